-- Supplier concentration per category: units sold in the last 90 days up to the as-of date
-- (all markets) by supplier, each supplier's share of its category's units and the
-- category's Herfindahl-Hirschman index (HHI) = sum of the squared unit shares in percent,
-- on the 0..10,000 scale (10,000 = a single supplier; below 1,500 unconcentrated, above
-- 2,500 highly concentrated in the US merger guidelines' terms). Every supplier of the
-- catalog is listed, with 0 units when it sold nothing; shares are NULL in a category that
-- sold nothing. A supplier's country is the most common supplier_country of its SKUs, its
-- risk tier that of the supplier_country_risks seed (medium when the country is not listed).

with

skus as (

    select
        sku,
        supplier_id,
        category,
        supplier_country
    from {{ ref('int_skus_enriched') }}

),

supplier_country_risks as (

    select
        country_code,
        risk_tier
    from {{ ref('supplier_country_risks') }}

),

sku_markets as (

    select
        sku,
        units_90d
    from {{ ref('int_sku_markets_aggregated') }}

),

supplier_units as (

    select
        skus.category,
        skus.supplier_id,
        count(distinct skus.sku) as skus,
        sum(coalesce(sku_markets.units_90d, 0)) as units_90d
    from skus
    left join sku_markets
        on skus.sku = sku_markets.sku
    group by
        skus.category,
        skus.supplier_id

),

supplier_countries as (

    select
        supplier_id,
        supplier_country,
        row_number() over (
            partition by supplier_id
            order by count(*) desc, supplier_country asc
        ) as country_rank
    from skus
    group by
        supplier_id,
        supplier_country

),

shares as (

    select
        category,
        supplier_id,
        skus,
        units_90d,
        sum(units_90d) over (partition by category) as category_units_90d,
        count(*) over (partition by category) as category_suppliers,
        100.0 * {{ safe_divide('units_90d', 'sum(units_90d) over (partition by category)') }} as unit_share_pct
    from supplier_units

),

concentrated as (

    select
        shares.category,
        shares.supplier_id,
        supplier_countries.supplier_country,
        coalesce(supplier_country_risks.risk_tier, 'medium') as supplier_country_risk_tier,
        shares.skus,
        shares.units_90d,
        shares.category_units_90d,
        shares.category_suppliers,
        shares.unit_share_pct,
        sum(shares.unit_share_pct * shares.unit_share_pct) over (partition by shares.category) as category_hhi,
        row_number() over (
            partition by shares.category
            order by shares.units_90d desc, shares.supplier_id asc
        ) as supplier_rank
    from shares
    left join supplier_countries
        on
            shares.supplier_id = supplier_countries.supplier_id
            and supplier_countries.country_rank = 1
    left join supplier_country_risks
        on supplier_countries.supplier_country = supplier_country_risks.country_code

)

select * from concentrated
