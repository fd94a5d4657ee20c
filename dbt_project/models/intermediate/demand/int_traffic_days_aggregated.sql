-- Listing traffic per SKU x destination market x day, summed over the marketplaces the
-- SKU is listed on (sessions, page views, sessions with an add-to-cart, sessions that
-- ordered).

-- A table, not a view: several models and their tests read it (a view would recompute the
-- chain above it for each of them).
{{ config(**incremental_by_day('traffic_date', ['sku', 'destination_country', 'traffic_date'])) }}

with

traffic as (

    select * from {{ ref('stg_platform__traffic') }}
    where {{ window_predicate('traffic_date') }}

),

aggregated as (

    select
        sku,
        destination_country,
        traffic_date,
        count(*) as listings,
        sum(sessions) as sessions,
        sum(page_views) as page_views,
        sum(add_to_cart) as add_to_cart_sessions,
        sum(ordered_sessions) as ordered_sessions
    from traffic
    group by
        sku,
        destination_country,
        traffic_date

)

select * from aggregated
