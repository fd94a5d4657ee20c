-- Exposure of the selection universe to regulatory events: one row per event and SKU x
-- market it touches. An event touches a pair when it is in the pair's market and the
-- SKU's HS code starts with the event's hs_scope ('' = all goods). The estimated 90-day
-- margin impact (USD, negative = margin lost) assumes the next 90 days sell the units of
-- the last 90 at today's prices, costs and cheapest mode, and that nothing else changes:
--   duty_change        customs value x (new rate - current ad valorem rate) per unit, plus
--                      import VAT on that duty where import VAT is charged (0 under a duty
--                      de-minimis)
--   vat_change         net price change of VAT-inclusive shelf prices, gross / (1 + new) -
--                      gross / (1 + current), minus the import VAT change on unit cost +
--                      freight + duty where import VAT is charged
--   dst                gross price x platform fee % x (new - current DST %)
--   de_minimis_change  the duty the pair no longer escapes, when it ships under a duty
--                      de-minimis today (the change is assumed to end that relief)
--   cbam               embedded kg CO2e x (CBAM share priced on the effective date - share
--                      priced today, carbon_levies seed) x carbon price per tonne / 1000
--   product_rule       not estimated (NULL): compliance costs are not in the data
-- The impact is NULL for events already in force on the as-of date (their effect is in
-- today's landed cost) and for rate events without a new rate.

-- A table, not a view: several models and their tests read it (a view would recompute the
-- chain above it for each of them).
{{ config(materialized='table') }}

with

events as (

    select * from {{ ref('int_regulatory_events_current') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

sku_markets as (

    select
        sku,
        destination_country,
        units_90d,
        revenue_90d_usd
    from {{ ref('int_sku_markets_aggregated') }}

),

skus as (

    select
        sku,
        hs_code
    from {{ ref('int_skus_enriched') }}

),

landed_costs as (

    select * from {{ ref('int_landed_costs_computed') }}
    where is_cheapest_mode

),

policies as (

    select
        destination_country,
        prices_include_vat,
        carbon_price_usd_per_tonne
    from {{ ref('int_market_policies_resolved') }}

),

carbon_levies as (

    select
        valid_from,
        valid_to,
        priced_share_pct
    from {{ ref('carbon_levies') }}
    where applies_to = 'embedded'

),

touched as (

    select
        events.event_id,
        events.kind,
        events.new_rate_pct,
        events.effective_on,
        sku_markets.sku,
        sku_markets.destination_country,
        sku_markets.units_90d,
        sku_markets.revenue_90d_usd,
        events.effective_on > as_of.as_of_date as is_upcoming,
        as_of.as_of_date
    from events
    cross join as_of
    inner join sku_markets
        on events.country_code = sku_markets.destination_country
    inner join skus
        on
            sku_markets.sku = skus.sku
            and skus.hs_code like events.hs_scope || '%'

),

cbam_shares as (

    select
        touched.event_id,
        touched.sku,
        touched.destination_country,
        coalesce(max(at_effective.priced_share_pct), 0) as share_at_effective_pct,
        coalesce(max(today.priced_share_pct), 0) as share_today_pct
    from touched
    left join carbon_levies as at_effective
        on
            touched.effective_on >= at_effective.valid_from
            and (at_effective.valid_to is null or touched.effective_on < at_effective.valid_to)
    left join carbon_levies as today
        on
            touched.as_of_date >= today.valid_from
            and (today.valid_to is null or touched.as_of_date < today.valid_to)
    where touched.kind = 'cbam'
    group by
        touched.event_id,
        touched.sku,
        touched.destination_country

),

per_unit as (

    select
        touched.event_id,
        touched.sku,
        touched.destination_country,
        touched.kind,
        touched.effective_on,
        touched.is_upcoming,
        touched.units_90d,
        touched.revenue_90d_usd,
        case
            when touched.kind = 'duty_change' and touched.new_rate_pct is not null
                then
                    case
                        when landed_costs.is_under_duty_de_minimis then 0
                        else
                            landed_costs.customs_value_usd
                            * (touched.new_rate_pct - landed_costs.duty_ad_valorem_pct) / 100.0
                            * (
                                1 + case
                                    when landed_costs.is_import_vat_charged then landed_costs.vat_rate_pct / 100.0
                                    else 0
                                end
                            )
                    end
                    * -1
            when touched.kind = 'vat_change' and touched.new_rate_pct is not null
                then
                    case
                        when policies.prices_include_vat
                            then
                                landed_costs.gross_price_usd / (1 + touched.new_rate_pct / 100.0)
                                - landed_costs.gross_price_usd / (1 + landed_costs.vat_rate_pct / 100.0)
                        else 0
                    end
                    - case
                        when landed_costs.is_import_vat_charged
                            then
                                (
                                    landed_costs.unit_cost_usd + landed_costs.freight_per_unit_usd
                                    + landed_costs.duty_per_unit_usd
                                )
                                * (touched.new_rate_pct - landed_costs.vat_rate_pct) / 100.0
                        else 0
                    end
            when touched.kind = 'dst' and touched.new_rate_pct is not null
                then
                    -1 * landed_costs.gross_price_usd * landed_costs.platform_fee_pct / 100.0
                    * (touched.new_rate_pct - landed_costs.dst_rate_pct) / 100.0
            when touched.kind = 'de_minimis_change'
                then
                    case
                        when landed_costs.is_under_duty_de_minimis then -1 * landed_costs.duty_before_de_minimis_usd
                        else 0
                    end
            when touched.kind = 'cbam'
                then
                    -1 * coalesce(landed_costs.embedded_kg_co2e_per_unit, 0)
                    * (cbam_shares.share_at_effective_pct - cbam_shares.share_today_pct) / 100.0
                    * coalesce(policies.carbon_price_usd_per_tonne, 0) / 1000.0
        end as margin_impact_per_unit_usd
    from touched
    left join landed_costs
        on
            touched.sku = landed_costs.sku
            and touched.destination_country = landed_costs.destination_country
    left join policies
        on touched.destination_country = policies.destination_country
    left join cbam_shares
        on
            touched.event_id = cbam_shares.event_id
            and touched.sku = cbam_shares.sku
            and touched.destination_country = cbam_shares.destination_country

),

final as (

    select
        event_id,
        sku,
        destination_country,
        kind,
        effective_on,
        is_upcoming,
        units_90d,
        revenue_90d_usd,
        case when is_upcoming then round(margin_impact_per_unit_usd, 6) end as margin_impact_per_unit_usd,
        case when is_upcoming then round(units_90d * margin_impact_per_unit_usd, 4) end as est_margin_impact_usd
    from per_unit

)

select * from final
