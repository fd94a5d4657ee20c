-- Every regulatory event as currently known (latest snapshot version), per event and
-- market, with the days until it takes effect as of the as-of date and its exposure: the
-- SKUs of the market that sold in the last 90 days and fall in its HS scope, their 90-day
-- units and revenue, and the estimated 90-day margin impact in USD (negative = margin
-- lost; NULL for events already in force and for product rules; method in
-- int_policy_events_exposed).

with

events as (

    select * from {{ ref('int_regulatory_events_current') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

exposure as (

    select
        event_id,
        destination_country,
        count(distinct sku) as skus_touched,
        sum(units_90d) as units_90d_touched,
        sum(revenue_90d_usd) as revenue_90d_usd_touched,
        sum(est_margin_impact_usd) as est_margin_impact_usd
    from {{ ref('int_policy_events_exposed') }}
    group by
        event_id,
        destination_country

),

final as (

    select
        cast(events.event_id as {{ dbt.type_string() }}) as event_id,
        cast(events.country_code as {{ dbt.type_string() }}) as destination_country,
        cast(events.kind as {{ dbt.type_string() }}) as kind,
        cast(events.hs_scope as {{ dbt.type_string() }}) as hs_scope,
        cast(events.summary as {{ dbt.type_string() }}) as summary,
        cast(events.new_rate_pct as {{ type_double() }}) as new_rate_pct,
        events.announced_on,
        events.effective_on,
        as_of.as_of_date,
        cast({{ dbt.datediff('as_of.as_of_date', 'events.effective_on', 'day') }} as integer) as days_until_effective,
        cast({{ dbt.datediff('events.announced_on', 'events.effective_on', 'day') }} as integer) as notice_days,
        events.effective_on > as_of.as_of_date as is_upcoming,
        cast(coalesce(exposure.skus_touched, 0) as {{ dbt.type_bigint() }}) as skus_touched,
        cast(coalesce(exposure.units_90d_touched, 0) as {{ dbt.type_bigint() }}) as units_90d_touched,
        cast(round(coalesce(exposure.revenue_90d_usd_touched, 0), 4) as {{ type_double() }})
            as revenue_90d_usd_touched,
        cast(
            case
                when events.effective_on > as_of.as_of_date and events.kind <> 'product_rule'
                    then round(coalesce(exposure.est_margin_impact_usd, 0), 4)
            end as {{ type_double() }}
        ) as est_margin_impact_usd
    from events
    cross join as_of
    left join exposure
        on
            events.event_id = exposure.event_id
            and events.country_code = exposure.destination_country

)

select * from final
