-- The catalog as the marts need it: one row per SKU with its category, supplier and the
-- supplier country's risk tier (supplier_country_risks seed; countries not listed count as
-- medium), HS chapter/heading prefixes for policy matching, and the product attributes the
-- compliance flags compare with the market.

with

catalog as (

    select * from {{ ref('stg_platform__catalog') }}

),

supplier_country_risks as (

    select
        country_code,
        risk_tier
    from {{ ref('supplier_country_risks') }}

),

enriched as (

    select
        catalog.sku,
        catalog.supplier_id,
        catalog.title,
        catalog.category,
        catalog.hs_code,
        substring(catalog.hs_code, 1, 2) as hs_chapter,
        substring(catalog.hs_code, 1, 4) as hs_heading,
        catalog.origin_country,
        catalog.supplier_country,
        coalesce(supplier_country_risks.risk_tier, 'medium') as supplier_country_risk_tier,
        catalog.voltage,
        catalog.plug_type,
        catalog.doc_languages,
        catalog.cost_currency,
        catalog.unit_cost_local,
        catalog.weight_kg,
        catalog.has_battery,
        catalog.launched_on
    from catalog
    left join supplier_country_risks
        on catalog.supplier_country = supplier_country_risks.country_code

)

select * from enriched
