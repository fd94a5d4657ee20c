-- Product selection per SKU x destination market as of the as-of date (latest order date
-- unless var as_of_date is set), for every pair that sold in the last 90 days: demand
-- windows, realised net price, landed cost per unit by component at the cheapest
-- transport mode, landed margin, quality signals and compliance flags.

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

catalog as (

    select * from {{ ref('stg_platform__catalog') }}

),

policies as (

    select * from {{ ref('int_market_policies_resolved') }}

),

joined as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        catalog.category,
        catalog.supplier_id,
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
        landed_costs.unit_cost_usd,
        landed_costs.freight_per_unit_usd,
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
        landed_costs.chargeable_kg as cheapest_mode_chargeable_kg,
        landed_costs.transit_days as cheapest_mode_transit_days,
        landed_costs.shipping_kg_co2e_per_unit,
        signals.return_rate_pct,
        signals.returned_units_90d,
        signals.top_return_reason,
        signals.bad_review_rate_pct,
        signals.reviews_90d,
        signals.avg_rating_90d,
        signals.sessions_28d,
        signals.add_to_cart_rate_28d_pct,
        signals.conversion_rate_28d_pct,
        coalesce(
            catalog.voltage in ('110V', '220V') and catalog.voltage <> policies.voltage_class, false
        ) as voltage_mismatch,
        coalesce(
            catalog.plug_type <> 'none'
            and ';' || policies.plug_types || ';' not like '%;' || catalog.plug_type || ';%',
            false
        ) as plug_mismatch,
        coalesce(
            ';' || catalog.doc_languages || ';' not like '%;' || policies.language || ';%', true
        ) as missing_local_docs,
        coalesce(landed_costs.is_cbam_in_scope, false) as cbam_in_scope
    from sku_markets
    left join catalog
        on sku_markets.sku = catalog.sku
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
        cbam_in_scope
    from joined

)

select * from final
