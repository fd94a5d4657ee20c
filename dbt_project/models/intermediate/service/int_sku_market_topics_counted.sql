-- Tickets and reviews per SKU x destination market x topic over the last 90 days up to
-- and including the as-of date, with the topic's group (service_topics seed: complaint,
-- question or praise; a topic missing from the seed counts as a complaint named after
-- itself). Tickets without a SKU (general questions) are left out.

with

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

tickets as (

    select
        tickets.sku,
        tickets.destination_country,
        tickets.topic,
        count(*) as tickets,
        sum(case when tickets.is_sla_breach then 1 else 0 end) as sla_breach_tickets
    from {{ ref('int_tickets_measured') }} as tickets
    cross join as_of
    where
        tickets.sku is not null
        and tickets.ticket_date <= as_of.as_of_date
        and tickets.ticket_date > {{ days_before('as_of.as_of_date', 90) }}
    group by
        tickets.sku,
        tickets.destination_country,
        tickets.topic

),

reviews as (

    select
        reviews.sku,
        reviews.destination_country,
        reviews.topic,
        count(*) as reviews,
        sum(case when reviews.is_bad_review then 1 else 0 end) as bad_reviews
    from {{ ref('int_reviews_flagged') }} as reviews
    cross join as_of
    where
        reviews.review_date <= as_of.as_of_date
        and reviews.review_date > {{ days_before('as_of.as_of_date', 90) }}
    group by
        reviews.sku,
        reviews.destination_country,
        reviews.topic

),

service_topics as (

    select
        topic,
        topic_group,
        pain_point
    from {{ ref('service_topics') }}

),

combined as (

    select
        coalesce(tickets.sku, reviews.sku) as sku,
        coalesce(tickets.destination_country, reviews.destination_country) as destination_country,
        coalesce(tickets.topic, reviews.topic) as topic,
        coalesce(tickets.tickets, 0) as tickets,
        coalesce(tickets.sla_breach_tickets, 0) as sla_breach_tickets,
        coalesce(reviews.reviews, 0) as reviews,
        coalesce(reviews.bad_reviews, 0) as bad_reviews
    from tickets
    full outer join reviews
        on
            tickets.sku = reviews.sku
            and tickets.destination_country = reviews.destination_country
            and tickets.topic = reviews.topic

),

final as (

    select
        combined.sku,
        combined.destination_country,
        combined.topic,
        coalesce(service_topics.topic_group, 'complaint') as topic_group,
        case
            when coalesce(service_topics.topic_group, 'complaint') = 'complaint'
                then coalesce(service_topics.pain_point, combined.topic)
        end as pain_point,
        as_of.as_of_date,
        cast(combined.tickets as {{ dbt.type_bigint() }}) as tickets,
        cast(combined.sla_breach_tickets as {{ dbt.type_bigint() }}) as sla_breach_tickets,
        cast(combined.reviews as {{ dbt.type_bigint() }}) as reviews,
        cast(combined.bad_reviews as {{ dbt.type_bigint() }}) as bad_reviews
    from combined
    cross join as_of
    left join service_topics
        on combined.topic = service_topics.topic

)

select * from final
