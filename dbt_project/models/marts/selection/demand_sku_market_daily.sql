-- Daily demand per SKU x destination market, one row per day with sales. Revenue is the
-- gross amount buyers paid (VAT included where shelf prices include it) in USD at the
-- FX rate of the order day; net_revenue_usd removes that VAT.
-- Incremental (delete+insert on sku x market x day): in a run with a partition window only
-- the window's order days are recomputed, from the order lines of those days.

{{ config(**incremental_by_day('order_date', ['sku', 'destination_country', 'order_date'])) }}

with

order_lines as (

    select * from {{ ref('int_order_lines_converted') }}
    where {{ window_predicate('order_date') }}

),

daily as (

    select
        sku,
        destination_country,
        order_date,
        count(distinct order_id) as orders,
        count(*) as order_lines,
        sum(quantity) as units,
        sum(revenue_usd) as revenue_usd,
        sum(net_revenue_usd) as net_revenue_usd
    from order_lines
    group by
        sku,
        destination_country,
        order_date

),

final as (

    select
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        order_date,
        cast(orders as {{ dbt.type_bigint() }}) as orders,
        cast(order_lines as {{ dbt.type_bigint() }}) as order_lines,
        cast(units as {{ dbt.type_bigint() }}) as units,
        cast(round(revenue_usd, 4) as {{ type_double() }}) as revenue_usd,
        cast(round(net_revenue_usd, 4) as {{ type_double() }}) as net_revenue_usd,
        cast(round({{ safe_divide('revenue_usd', 'units') }}, 4) as {{ type_double() }}) as avg_unit_price_usd
    from daily

)

select * from final
