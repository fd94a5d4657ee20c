-- Quality, complaint and funnel signals per SKU x market of the selection universe, as of
-- the as-of date: returns of the order lines ordered in the last 90 days (returned up to
-- the as-of date: an order cohort, so the rate stays within 0-100% but recent orders have
-- had less time to come back), reviews written in the last 90 days, complaint topics of
-- the tickets and reviews of the last 90 days (int_sku_market_topics_counted: the top
-- complaint topic by tickets, then reviews, then name), and listing traffic over the
-- last 28 days and the 28 before (traffic trend).

-- A table, not a view: several models and their tests read it (a view would recompute the
-- chain above it for each of them).
{{ config(materialized='table') }}

with

sku_markets as (

    select
        sku,
        destination_country,
        as_of_date,
        units_90d
    from {{ ref('int_sku_markets_aggregated') }}

),

returns as (

    select * from {{ ref('stg_platform__returns') }}

),

order_lines as (

    select
        order_line_id,
        order_date
    from {{ ref('int_order_lines_converted') }}

),

reviews as (

    select * from {{ ref('int_reviews_flagged') }}

),

traffic as (

    select * from {{ ref('int_traffic_days_aggregated') }}

),

topics as (

    select * from {{ ref('int_sku_market_topics_counted') }}

),

returns_by_reason as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        returns.reason,
        sum(returns.quantity) as returned_units
    from sku_markets
    inner join returns
        on
            sku_markets.sku = returns.sku
            and sku_markets.destination_country = returns.destination_country
            and sku_markets.as_of_date >= returns.return_date
    inner join order_lines
        on
            returns.order_line_id = order_lines.order_line_id
            and sku_markets.as_of_date >= order_lines.order_date
            and order_lines.order_date > {{ days_before('sku_markets.as_of_date', 90) }}
    group by
        sku_markets.sku,
        sku_markets.destination_country,
        returns.reason

),

returns_ranked as (

    select
        sku,
        destination_country,
        reason,
        returned_units,
        sum(returned_units) over (partition by sku, destination_country) as returned_units_90d,
        row_number() over (
            partition by sku, destination_country
            order by returned_units desc, reason asc
        ) as reason_rank
    from returns_by_reason

),

returns_summary as (

    select
        sku,
        destination_country,
        returned_units_90d,
        reason as top_return_reason,
        returned_units as top_return_reason_units
    from returns_ranked
    where reason_rank = 1

),

reviews_summary as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        count(*) as reviews_90d,
        sum(case when reviews.is_bad_review then 1 else 0 end) as bad_reviews_90d,
        avg(cast(reviews.rating as {{ type_double() }})) as avg_rating_90d
    from sku_markets
    inner join reviews
        on
            sku_markets.sku = reviews.sku
            and sku_markets.destination_country = reviews.destination_country
            and sku_markets.as_of_date >= reviews.review_date
            and reviews.review_date > {{ days_before('sku_markets.as_of_date', 90) }}
    group by
        sku_markets.sku,
        sku_markets.destination_country

),

complaints_ranked as (

    select
        sku,
        destination_country,
        topic,
        pain_point,
        tickets,
        reviews,
        sum(tickets) over (partition by sku, destination_country) as complaint_tickets_90d,
        row_number() over (
            partition by sku, destination_country
            order by tickets desc, reviews desc, topic asc
        ) as topic_rank
    from topics
    where topic_group = 'complaint'

),

complaints_summary as (

    select
        sku,
        destination_country,
        complaint_tickets_90d,
        topic as top_complaint_topic,
        pain_point as top_complaint_pain_point,
        tickets as top_complaint_topic_tickets_90d
    from complaints_ranked
    where topic_rank = 1

),

traffic_summary as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        sum(
            case
                when traffic.traffic_date > {{ days_before('sku_markets.as_of_date', 28) }} then traffic.sessions
                else 0
            end
        ) as sessions_28d,
        sum(
            case
                when traffic.traffic_date <= {{ days_before('sku_markets.as_of_date', 28) }} then traffic.sessions
                else 0
            end
        ) as sessions_prior_28d,
        sum(
            case
                when traffic.traffic_date > {{ days_before('sku_markets.as_of_date', 28) }}
                    then traffic.add_to_cart_sessions
                else 0
            end
        ) as add_to_cart_sessions_28d,
        sum(
            case
                when traffic.traffic_date > {{ days_before('sku_markets.as_of_date', 28) }}
                    then traffic.ordered_sessions
                else 0
            end
        ) as ordered_sessions_28d
    from sku_markets
    inner join traffic
        on
            sku_markets.sku = traffic.sku
            and sku_markets.destination_country = traffic.destination_country
            and sku_markets.as_of_date >= traffic.traffic_date
            and traffic.traffic_date > {{ days_before('sku_markets.as_of_date', 56) }}
    group by
        sku_markets.sku,
        sku_markets.destination_country

),

final as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        sku_markets.as_of_date,
        returns_summary.top_return_reason,
        cast(coalesce(returns_summary.returned_units_90d, 0) as {{ dbt.type_bigint() }}) as returned_units_90d,
        round(100 * {{ safe_divide('coalesce(returns_summary.returned_units_90d, 0)', 'sku_markets.units_90d') }}, 4)
            as return_rate_pct,
        round(100 * {{ safe_divide('returns_summary.top_return_reason_units', 'sku_markets.units_90d') }}, 4)
            as top_return_reason_rate_pct,
        cast(coalesce(reviews_summary.reviews_90d, 0) as {{ dbt.type_bigint() }}) as reviews_90d,
        cast(coalesce(reviews_summary.bad_reviews_90d, 0) as {{ dbt.type_bigint() }}) as bad_reviews_90d,
        round(100 * {{ safe_divide('reviews_summary.bad_reviews_90d', 'reviews_summary.reviews_90d') }}, 4)
            as bad_review_rate_pct,
        round(reviews_summary.avg_rating_90d, 4) as avg_rating_90d,
        complaints_summary.top_complaint_topic,
        complaints_summary.top_complaint_pain_point,
        cast(coalesce(complaints_summary.complaint_tickets_90d, 0) as {{ dbt.type_bigint() }})
            as complaint_tickets_90d,
        round(
            100 * {{ safe_divide('coalesce(complaints_summary.complaint_tickets_90d, 0)', 'sku_markets.units_90d') }},
            4
        ) as complaint_tickets_per_100_units,
        round(
            100 * {{ safe_divide(
                'coalesce(complaints_summary.top_complaint_topic_tickets_90d, 0)', 'sku_markets.units_90d'
            ) }},
            4
        ) as top_complaint_tickets_per_100_units,
        cast(coalesce(traffic_summary.sessions_28d, 0) as {{ dbt.type_bigint() }}) as sessions_28d,
        cast(coalesce(traffic_summary.sessions_prior_28d, 0) as {{ dbt.type_bigint() }}) as sessions_prior_28d,
        round(100 * ({{ safe_divide('traffic_summary.sessions_28d', 'traffic_summary.sessions_prior_28d') }} - 1), 4)
            as sessions_growth_28d_pct,
        round(
            100 * {{ safe_divide('traffic_summary.add_to_cart_sessions_28d', 'traffic_summary.sessions_28d') }}, 4
        ) as add_to_cart_rate_28d_pct,
        round(
            100 * {{ safe_divide('traffic_summary.ordered_sessions_28d', 'traffic_summary.sessions_28d') }}, 4
        ) as conversion_rate_28d_pct
    from sku_markets
    left join returns_summary
        on
            sku_markets.sku = returns_summary.sku
            and sku_markets.destination_country = returns_summary.destination_country
    left join reviews_summary
        on
            sku_markets.sku = reviews_summary.sku
            and sku_markets.destination_country = reviews_summary.destination_country
    left join complaints_summary
        on
            sku_markets.sku = complaints_summary.sku
            and sku_markets.destination_country = complaints_summary.destination_country
    left join traffic_summary
        on
            sku_markets.sku = traffic_summary.sku
            and sku_markets.destination_country = traffic_summary.destination_country

)

select * from final
