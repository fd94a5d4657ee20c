-- Complaint topics per SKU across its markets over the last 90 days up to the as-of date:
-- tickets and reviews per topic (int_sku_market_topics_counted), the topic's share of
-- the SKU's tickets, reviews and bad reviews, and tickets per 100 units sold in those 90
-- days (all markets). The selection mart carries the same counts per market (top complaint
-- topic and complaint tickets per 100 units).

with

topics as (

    select * from {{ ref('int_sku_market_topics_counted') }}

),

skus as (

    select
        sku,
        category
    from {{ ref('int_skus_enriched') }}

),

sku_units as (

    select
        sku,
        sum(units_90d) as units_90d
    from {{ ref('int_sku_markets_aggregated') }}
    group by sku

),

per_topic as (

    select
        sku,
        topic,
        max(topic_group) as topic_group,
        max(pain_point) as pain_point,
        max(as_of_date) as as_of_date,
        count(distinct destination_country) as markets,
        sum(tickets) as tickets,
        sum(reviews) as reviews,
        sum(bad_reviews) as bad_reviews
    from topics
    group by
        sku,
        topic

),

shares as (

    select
        *,
        sum(tickets) over (partition by sku) as sku_tickets,
        sum(reviews) over (partition by sku) as sku_reviews,
        sum(bad_reviews) over (partition by sku) as sku_bad_reviews
    from per_topic

),

final as (

    select
        cast(shares.sku as {{ dbt.type_string() }}) as sku,
        cast(shares.topic as {{ dbt.type_string() }}) as topic,
        cast(skus.category as {{ dbt.type_string() }}) as category,
        cast(shares.topic_group as {{ dbt.type_string() }}) as topic_group,
        cast(shares.pain_point as {{ dbt.type_string() }}) as pain_point,
        shares.as_of_date,
        cast(shares.markets as {{ dbt.type_bigint() }}) as markets,
        cast(shares.tickets as {{ dbt.type_bigint() }}) as tickets,
        cast(shares.reviews as {{ dbt.type_bigint() }}) as reviews,
        cast(shares.bad_reviews as {{ dbt.type_bigint() }}) as bad_reviews,
        cast(coalesce(sku_units.units_90d, 0) as {{ dbt.type_bigint() }}) as units_90d,
        cast(round(100 * {{ safe_divide('shares.tickets', 'shares.sku_tickets') }}, 4) as {{ type_double() }})
            as ticket_share_pct,
        cast(round(100 * {{ safe_divide('shares.reviews', 'shares.sku_reviews') }}, 4) as {{ type_double() }})
            as review_share_pct,
        cast(
            round(100 * {{ safe_divide('shares.bad_reviews', 'shares.sku_bad_reviews') }}, 4) as {{ type_double() }}
        ) as bad_review_share_pct,
        cast(round(100 * {{ safe_divide('shares.tickets', 'sku_units.units_90d') }}, 4) as {{ type_double() }})
            as tickets_per_100_units
    from shares
    left join skus
        on shares.sku = skus.sku
    left join sku_units
        on shares.sku = sku_units.sku

)

select * from final
