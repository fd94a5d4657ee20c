-- Customer-service performance per destination market x channel x day the tickets were
-- created. Percentiles are continuous (interpolated) over the tickets that have the
-- duration; rates are in percent of the tickets they apply to (see the yml).

with

tickets as (

    select * from {{ ref('int_tickets_measured') }}

),

daily as (

    select
        destination_country,
        channel,
        ticket_date,
        count(*) as tickets,
        sum(case when is_answered then 1 else 0 end) as answered_tickets,
        sum(case when is_resolved then 1 else 0 end) as resolved_tickets,
        {{ percentile_cont('first_response_hours', 0.5) }} as first_response_p50_hours,
        {{ percentile_cont('first_response_hours', 0.9) }} as first_response_p90_hours,
        {{ percentile_cont('resolution_hours', 0.5) }} as resolution_p50_hours,
        {{ percentile_cont('resolution_hours', 0.9) }} as resolution_p90_hours,
        sum(case when is_first_contact_resolution then 1 else 0 end) as first_contact_resolutions,
        count(csat) as rated_tickets,
        avg(cast(csat as {{ type_double() }})) as csat_avg,
        sum(case when is_satisfied then 1 else 0 end) as satisfied_tickets,
        sum(case when is_bot_handled then 1 else 0 end) as bot_tickets,
        sum(case when is_bot_resolved then 1 else 0 end) as bot_resolved_tickets,
        sum(case when is_sla_breach then 1 else 0 end) as sla_breaches,
        sum(case when is_reopened then 1 else 0 end) as reopened_tickets,
        sum(case when is_answered_in_buyer_language then 1 else 0 end) as answered_in_buyer_language_tickets
    from tickets
    group by
        destination_country,
        channel,
        ticket_date

),

final as (

    select
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(channel as {{ dbt.type_string() }}) as channel,
        ticket_date,
        cast(tickets as {{ dbt.type_bigint() }}) as tickets,
        cast(answered_tickets as {{ dbt.type_bigint() }}) as answered_tickets,
        cast(resolved_tickets as {{ dbt.type_bigint() }}) as resolved_tickets,
        cast(round(first_response_p50_hours, 4) as {{ type_double() }}) as first_response_p50_hours,
        cast(round(first_response_p90_hours, 4) as {{ type_double() }}) as first_response_p90_hours,
        cast(round(resolution_p50_hours, 4) as {{ type_double() }}) as resolution_p50_hours,
        cast(round(resolution_p90_hours, 4) as {{ type_double() }}) as resolution_p90_hours,
        cast(
            round(100 * {{ safe_divide('first_contact_resolutions', 'resolved_tickets') }}, 4) as {{ type_double() }}
        ) as first_contact_resolution_pct,
        cast(rated_tickets as {{ dbt.type_bigint() }}) as rated_tickets,
        cast(round(csat_avg, 4) as {{ type_double() }}) as csat_avg,
        cast(round(100 * {{ safe_divide('satisfied_tickets', 'rated_tickets') }}, 4) as {{ type_double() }})
            as csat_satisfied_pct,
        cast(round(100 * {{ safe_divide('bot_tickets', 'tickets') }}, 4) as {{ type_double() }}) as bot_share_pct,
        cast(round(100 * {{ safe_divide('bot_resolved_tickets', 'bot_tickets') }}, 4) as {{ type_double() }})
            as bot_resolution_pct,
        cast(sla_breaches as {{ dbt.type_bigint() }}) as sla_breaches,
        cast(round(100 * {{ safe_divide('reopened_tickets', 'tickets') }}, 4) as {{ type_double() }})
            as reopen_rate_pct,
        cast(
            round(
                100 * {{ safe_divide('answered_in_buyer_language_tickets', 'answered_tickets') }}, 4
            ) as {{ type_double() }}
        ) as answered_in_buyer_language_pct
    from daily

)

select * from final
