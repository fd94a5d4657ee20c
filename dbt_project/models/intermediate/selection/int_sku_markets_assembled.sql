-- Everything the selection mart shows about a SKU x market of the selection universe, in
-- one row: demand windows, landed cost at the cheapest mode, quality, complaint and funnel
-- signals, competition, product attributes and the compliance flags:
--   voltage_mismatch     a 110V or 220V product in a market of the other voltage class
--   plug_mismatch        a plug type not in use in the market
--   missing_local_docs   the market's language missing from the product's documentation
--   cbam_in_scope        HS code in CBAM scope and CBAM applies in the market
--   duty_vat_change_next_90d  a duty, VAT, DST or de-minimis event touching the pair takes
--                        effect in the next 90 days (int_policy_events_exposed)

-- A table, not a view: several models and their tests read it (a view would recompute the
-- chain above it for each of them).
{{ config(materialized='table') }}

with

sku_markets as (

    select * from {{ ref('int_sku_markets_aggregated') }}

),

signals as (

    select * from {{ ref('int_sku_market_signals_aggregated') }}

),

landed_costs as (

    select * from {{ ref('int_landed_costs_computed') }}
    where is_cheapest_mode

),

competition as (

    select * from {{ ref('int_competitor_listings_ranked') }}

),

skus as (

    select * from {{ ref('int_skus_enriched') }}

),

policies as (

    select * from {{ ref('int_market_policies_resolved') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

policy_exposure as (

    select * from {{ ref('int_policy_events_exposed') }}

),

policy_changes_ranked as (

    select
        exposed.sku,
        exposed.destination_country,
        exposed.kind,
        exposed.effective_on,
        row_number() over (
            partition by exposed.sku, exposed.destination_country
            order by exposed.effective_on, exposed.kind, exposed.event_id
        ) as change_rank
    from policy_exposure as exposed
    cross join as_of
    where
        exposed.is_upcoming
        and exposed.kind in ('duty_change', 'vat_change', 'dst', 'de_minimis_change')
        and exposed.effective_on <= {{ days_before('as_of.as_of_date', -90) }}

),

policy_changes as (

    select
        sku,
        destination_country,
        kind as next_policy_change_kind,
        effective_on as next_policy_change_on
    from policy_changes_ranked
    where change_rank = 1

),

assembled as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        skus.category,
        skus.supplier_id,
        sku_markets.main_marketplace,
        sku_markets.as_of_date,
        sku_markets.orders_28d,
        sku_markets.units_28d,
        sku_markets.revenue_28d_usd,
        sku_markets.units_prior_28d,
        sku_markets.growth_28d_pct,
        sku_markets.orders_90d,
        sku_markets.units_90d,
        sku_markets.revenue_90d_usd,
        sku_markets.units_prior_90d,
        sku_markets.growth_90d_pct,
        sku_markets.gross_price_usd,
        sku_markets.net_price_usd,
        policies.vat_rate_pct,
        landed_costs.customs_valuation,
        landed_costs.unit_cost_usd,
        landed_costs.customs_value_usd,
        landed_costs.freight_per_unit_usd,
        landed_costs.duty_commodity_code,
        landed_costs.duty_rate_text,
        landed_costs.duty_per_unit_usd,
        landed_costs.vat_per_unit_usd,
        landed_costs.fees_per_unit_usd,
        landed_costs.carbon_cost_per_unit_usd,
        landed_costs.landed_cost_usd,
        landed_costs.landed_cost_ex_vat_usd,
        landed_costs.landed_margin_pct,
        landed_costs.landed_margin_ex_vat_pct,
        landed_costs.logistics_cost_share_pct,
        landed_costs.mode as cheapest_mode,
        landed_costs.lane_origin_country as cheapest_mode_origin_country,
        landed_costs.chargeable_kg as cheapest_mode_chargeable_kg,
        landed_costs.transit_days as cheapest_mode_transit_days,
        landed_costs.shipping_kg_co2e_per_unit,
        landed_costs.embedded_kg_co2e_per_unit,
        signals.return_rate_pct,
        signals.returned_units_90d,
        signals.top_return_reason,
        signals.top_return_reason_rate_pct,
        signals.bad_review_rate_pct,
        signals.reviews_90d,
        signals.bad_reviews_90d,
        signals.avg_rating_90d,
        signals.complaint_tickets_90d,
        signals.complaint_tickets_per_100_units,
        signals.top_complaint_topic,
        signals.top_complaint_pain_point,
        signals.top_complaint_tickets_per_100_units,
        signals.sessions_28d,
        signals.sessions_prior_28d,
        signals.sessions_growth_28d_pct,
        signals.add_to_cart_rate_28d_pct,
        signals.conversion_rate_28d_pct,
        competition.competition_marketplace,
        competition.sellers_on_listing,
        competition.competitor_median_price_usd,
        competition.price_position_pct,
        competition.own_review_count,
        competition.competitor_review_count,
        policy_changes.next_policy_change_on,
        policy_changes.next_policy_change_kind,
        coalesce(landed_costs.is_under_duty_de_minimis, false) as is_under_duty_de_minimis,
        coalesce(
            skus.voltage in ('110V', '220V') and skus.voltage <> policies.voltage_class, false
        ) as voltage_mismatch,
        coalesce(
            skus.plug_type <> 'none'
            and ';' || policies.plug_types || ';' not like '%;' || skus.plug_type || ';%',
            false
        ) as plug_mismatch,
        coalesce(
            ';' || skus.doc_languages || ';' not like '%;' || policies.language || ';%', true
        ) as missing_local_docs,
        coalesce(landed_costs.is_cbam_in_scope, false) as cbam_in_scope,
        policy_changes.next_policy_change_on is not null as duty_vat_change_next_90d
    from sku_markets
    left join skus
        on sku_markets.sku = skus.sku
    left join policies
        on sku_markets.destination_country = policies.destination_country
    left join landed_costs
        on
            sku_markets.sku = landed_costs.sku
            and sku_markets.destination_country = landed_costs.destination_country
    left join signals
        on
            sku_markets.sku = signals.sku
            and sku_markets.destination_country = signals.destination_country
    left join competition
        on
            sku_markets.sku = competition.sku
            and sku_markets.destination_country = competition.destination_country
    left join policy_changes
        on
            sku_markets.sku = policy_changes.sku
            and sku_markets.destination_country = policy_changes.destination_country

)

select * from assembled
