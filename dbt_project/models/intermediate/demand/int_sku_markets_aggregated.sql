-- Demand windows per SKU x market as of the as-of date: the last 28 and 90 days (ending
-- on and including the as-of date), the 28 days before the last 28 and the 90 before the
-- last 90, realised gross and net (ex-VAT) prices over the last 90 days and the
-- revenue-weighted platform fee of the marketplaces the pair sold on, and its main
-- marketplace (most gross revenue in the last 90 days, ties by name). Only pairs with at
-- least one unit sold in the last 90 days are kept (the selection universe).

-- A table, not a view: several models and their tests read it (a view would recompute the
-- chain above it for each of them).
{{ config(materialized='table') }}

with

order_lines as (

    select * from {{ ref('int_order_lines_converted') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

marketplaces as (

    select
        marketplace,
        platform_fee_pct
    from {{ ref('marketplaces') }}

),

windowed as (

    select
        order_lines.sku,
        order_lines.destination_country,
        order_lines.order_id,
        order_lines.marketplace,
        order_lines.quantity,
        order_lines.revenue_usd,
        order_lines.net_revenue_usd,
        coalesce(marketplaces.platform_fee_pct, 0) as platform_fee_pct,
        as_of.as_of_date,
        order_lines.order_date > {{ days_before('as_of.as_of_date', 28) }} as is_in_28d,
        order_lines.order_date > {{ days_before('as_of.as_of_date', 56) }}
        and order_lines.order_date <= {{ days_before('as_of.as_of_date', 28) }} as is_in_prior_28d,
        order_lines.order_date > {{ days_before('as_of.as_of_date', 90) }} as is_in_90d,
        order_lines.order_date <= {{ days_before('as_of.as_of_date', 90) }} as is_in_prior_90d
    from order_lines
    cross join as_of
    left join marketplaces
        on order_lines.marketplace = marketplaces.marketplace
    where
        order_lines.order_date <= as_of.as_of_date
        and order_lines.order_date > {{ days_before('as_of.as_of_date', 180) }}

),

aggregated as (

    select
        sku,
        destination_country,
        as_of_date,
        count(distinct case when is_in_28d then order_id end) as orders_28d,
        count(distinct case when is_in_90d then order_id end) as orders_90d,
        sum(case when is_in_28d then quantity else 0 end) as units_28d,
        sum(case when is_in_prior_28d then quantity else 0 end) as units_prior_28d,
        sum(case when is_in_90d then quantity else 0 end) as units_90d,
        sum(case when is_in_prior_90d then quantity else 0 end) as units_prior_90d,
        sum(case when is_in_28d then revenue_usd else 0 end) as revenue_28d_usd,
        sum(case when is_in_prior_28d then revenue_usd else 0 end) as revenue_prior_28d_usd,
        sum(case when is_in_90d then revenue_usd else 0 end) as revenue_90d_usd,
        sum(case when is_in_prior_90d then revenue_usd else 0 end) as revenue_prior_90d_usd,
        sum(case when is_in_28d then net_revenue_usd else 0 end) as net_revenue_28d_usd,
        sum(case when is_in_90d then net_revenue_usd else 0 end) as net_revenue_90d_usd,
        sum(case when is_in_90d then revenue_usd * platform_fee_pct else 0 end) as fee_weighted_revenue_90d_usd
    from windowed
    group by
        sku,
        destination_country,
        as_of_date

),

marketplace_revenue as (

    select
        sku,
        destination_country,
        marketplace,
        row_number() over (
            partition by sku, destination_country
            order by sum(revenue_usd) desc, marketplace
        ) as marketplace_rank
    from windowed
    where is_in_90d
    group by
        sku,
        destination_country,
        marketplace

),

final as (

    select
        aggregated.sku,
        aggregated.destination_country,
        aggregated.as_of_date,
        marketplace_revenue.marketplace as main_marketplace,
        aggregated.orders_28d,
        aggregated.orders_90d,
        cast(aggregated.units_28d as {{ dbt.type_bigint() }}) as units_28d,
        cast(aggregated.units_prior_28d as {{ dbt.type_bigint() }}) as units_prior_28d,
        cast(aggregated.units_90d as {{ dbt.type_bigint() }}) as units_90d,
        cast(aggregated.units_prior_90d as {{ dbt.type_bigint() }}) as units_prior_90d,
        aggregated.revenue_28d_usd,
        aggregated.revenue_prior_28d_usd,
        aggregated.revenue_90d_usd,
        aggregated.revenue_prior_90d_usd,
        aggregated.net_revenue_28d_usd,
        aggregated.net_revenue_90d_usd,
        round(100 * ({{ safe_divide('aggregated.units_28d', 'aggregated.units_prior_28d') }} - 1), 4)
            as growth_28d_pct,
        round(100 * ({{ safe_divide('aggregated.units_90d', 'aggregated.units_prior_90d') }} - 1), 4)
            as growth_90d_pct,
        {{ safe_divide('aggregated.revenue_90d_usd', 'aggregated.units_90d') }} as gross_price_usd,
        {{ safe_divide('aggregated.net_revenue_90d_usd', 'aggregated.units_90d') }} as net_price_usd,
        coalesce(
            {{ safe_divide('aggregated.fee_weighted_revenue_90d_usd', 'aggregated.revenue_90d_usd') }}, 0
        ) as platform_fee_pct
    from aggregated
    left join marketplace_revenue
        on
            aggregated.sku = marketplace_revenue.sku
            and aggregated.destination_country = marketplace_revenue.destination_country
            and marketplace_revenue.marketplace_rank = 1
    where aggregated.units_90d > 0

)

select * from final
