-- Product selection per SKU x destination market as of the as-of date (latest order date
-- unless var as_of_date is set), for every pair that sold in the last 90 days: demand and
-- traffic, realised net price, landed cost per unit by component at the cheapest transport
-- mode, landed margin and logistics share, quality and complaint signals, competition,
-- carbon intensity, compliance flags, the selection score with its components, the rank
-- in the market and the recommendation (see int_sku_markets_scored).

with

scored as (

    select * from {{ ref('int_sku_markets_scored') }}

),

final as (

    select
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        as_of_date,
        cast(orders_28d as {{ dbt.type_bigint() }}) as orders_28d,
        cast(units_28d as {{ dbt.type_bigint() }}) as units_28d,
        cast(round(revenue_28d_usd, 4) as {{ type_double() }}) as revenue_28d_usd,
        cast(units_prior_28d as {{ dbt.type_bigint() }}) as units_prior_28d,
        cast(growth_28d_pct as {{ type_double() }}) as growth_28d_pct,
        cast(orders_90d as {{ dbt.type_bigint() }}) as orders_90d,
        cast(units_90d as {{ dbt.type_bigint() }}) as units_90d,
        cast(round(revenue_90d_usd, 4) as {{ type_double() }}) as revenue_90d_usd,
        cast(units_prior_90d as {{ dbt.type_bigint() }}) as units_prior_90d,
        cast(growth_90d_pct as {{ type_double() }}) as growth_90d_pct,
        cast(round(gross_price_usd, 6) as {{ type_double() }}) as gross_price_usd,
        cast(round(net_price_usd, 6) as {{ type_double() }}) as net_price_usd,
        cast(vat_rate_pct as {{ type_double() }}) as vat_rate_pct,
        cast(unit_cost_usd as {{ type_double() }}) as unit_cost_usd,
        cast(freight_per_unit_usd as {{ type_double() }}) as freight_per_unit_usd,
        cast(duty_per_unit_usd as {{ type_double() }}) as duty_per_unit_usd,
        cast(vat_per_unit_usd as {{ type_double() }}) as vat_per_unit_usd,
        cast(fees_per_unit_usd as {{ type_double() }}) as fees_per_unit_usd,
        cast(carbon_cost_per_unit_usd as {{ type_double() }}) as carbon_cost_per_unit_usd,
        cast(landed_cost_usd as {{ type_double() }}) as landed_cost_usd,
        cast(landed_cost_ex_vat_usd as {{ type_double() }}) as landed_cost_ex_vat_usd,
        cast(landed_margin_pct as {{ type_double() }}) as landed_margin_pct,
        cast(landed_margin_ex_vat_pct as {{ type_double() }}) as landed_margin_ex_vat_pct,
        cast(logistics_cost_share_pct as {{ type_double() }}) as logistics_cost_share_pct,
        cast(cheapest_mode as {{ dbt.type_string() }}) as cheapest_mode,
        cast(cheapest_mode_chargeable_kg as {{ type_double() }}) as cheapest_mode_chargeable_kg,
        cast(cheapest_mode_transit_days as {{ type_double() }}) as cheapest_mode_transit_days,
        cast(shipping_kg_co2e_per_unit as {{ type_double() }}) as shipping_kg_co2e_per_unit,
        cast(return_rate_pct as {{ type_double() }}) as return_rate_pct,
        cast(returned_units_90d as {{ dbt.type_bigint() }}) as returned_units_90d,
        cast(top_return_reason as {{ dbt.type_string() }}) as top_return_reason,
        cast(bad_review_rate_pct as {{ type_double() }}) as bad_review_rate_pct,
        cast(reviews_90d as {{ dbt.type_bigint() }}) as reviews_90d,
        cast(avg_rating_90d as {{ type_double() }}) as avg_rating_90d,
        cast(sessions_28d as {{ dbt.type_bigint() }}) as sessions_28d,
        cast(add_to_cart_rate_28d_pct as {{ type_double() }}) as add_to_cart_rate_28d_pct,
        cast(conversion_rate_28d_pct as {{ type_double() }}) as conversion_rate_28d_pct,
        voltage_mismatch,
        plug_mismatch,
        missing_local_docs,
        cbam_in_scope,
        -- added with the full selection brief
        cast(main_marketplace as {{ dbt.type_string() }}) as main_marketplace,
        cast(sessions_prior_28d as {{ dbt.type_bigint() }}) as sessions_prior_28d,
        cast(sessions_growth_28d_pct as {{ type_double() }}) as sessions_growth_28d_pct,
        cast(customs_valuation as {{ dbt.type_string() }}) as customs_valuation,
        cast(customs_value_usd as {{ type_double() }}) as customs_value_usd,
        cast(duty_commodity_code as {{ dbt.type_string() }}) as duty_commodity_code,
        cast(duty_rate_text as {{ dbt.type_string() }}) as duty_rate_text,
        is_under_duty_de_minimis,
        cast(embedded_kg_co2e_per_unit as {{ type_double() }}) as embedded_kg_co2e_per_unit,
        cast(top_return_reason_rate_pct as {{ type_double() }}) as top_return_reason_rate_pct,
        cast(bad_reviews_90d as {{ dbt.type_bigint() }}) as bad_reviews_90d,
        cast(complaint_tickets_90d as {{ dbt.type_bigint() }}) as complaint_tickets_90d,
        cast(complaint_tickets_per_100_units as {{ type_double() }}) as complaint_tickets_per_100_units,
        cast(top_complaint_topic as {{ dbt.type_string() }}) as top_complaint_topic,
        cast(top_complaint_tickets_per_100_units as {{ type_double() }}) as top_complaint_tickets_per_100_units,
        cast(competition_marketplace as {{ dbt.type_string() }}) as competition_marketplace,
        cast(sellers_on_listing as integer) as sellers_on_listing,
        cast(round(competitor_median_price_usd, 6) as {{ type_double() }}) as competitor_median_price_usd,
        cast(price_position_pct as {{ type_double() }}) as price_position_pct,
        cast(own_review_count as integer) as own_review_count,
        cast(competitor_review_count as integer) as competitor_review_count,
        duty_vat_change_next_90d,
        next_policy_change_on,
        cast(next_policy_change_kind as {{ dbt.type_string() }}) as next_policy_change_kind,
        cast(round(demand_score, 4) as {{ type_double() }}) as demand_score,
        cast(round(growth_score, 4) as {{ type_double() }}) as growth_score,
        cast(round(margin_score, 4) as {{ type_double() }}) as margin_score,
        cast(round(quality_score, 4) as {{ type_double() }}) as quality_score,
        cast(round(competition_score, 4) as {{ type_double() }}) as competition_score,
        cast(round(compliance_score, 4) as {{ type_double() }}) as compliance_score,
        cast(selection_score as {{ type_double() }}) as selection_score,
        cast(selection_rank as {{ dbt.type_bigint() }}) as selection_rank,
        cast(market_skus as {{ dbt.type_bigint() }}) as market_skus,
        cast(recommendation as {{ dbt.type_string() }}) as recommendation,
        cast(recommendation_reason as {{ dbt.type_string() }}) as recommendation_reason,
        cast(pain_point as {{ dbt.type_string() }}) as pain_point
    from scored

)

select * from final
