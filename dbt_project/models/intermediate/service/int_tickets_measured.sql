-- One row per customer-service ticket with its durations in hours and the flags the
-- service mart aggregates. A ticket breaches the first-response SLA (var
-- `first_response_sla_hours`) when its first response came later than the SLA, or when
-- it is still unanswered and was created more than the SLA before the latest ticket in
-- the data.
-- Incremental (delete+insert on ticket_id): with vars min_date/max_date the ticket days of
-- the window and the var `tickets_restatement_days` days before it are recomputed (the
-- source restates open tickets that long); without them the table is rebuilt in full.

{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
        incremental_strategy=incremental_facts_strategy(),
        partition_by=incremental_facts_partition_by('ticket_date'),
        on_schema_change='fail',
        full_refresh=window_full_refresh(),
        pre_hook="{{ delete_window('ticket_date', var('tickets_restatement_days', 45) | int) }}"
    )
}}

with

all_tickets as (

    select * from {{ ref('stg_platform__tickets') }}

),

tickets as (

    select * from all_tickets
    where {{ window_predicate('ticket_date', var('tickets_restatement_days', 45) | int) }}

),

data_cutoff as (

    select max(created_at) as latest_created_at from all_tickets

),

measured as (

    select
        tickets.ticket_id,
        tickets.order_id,
        tickets.sku,
        tickets.marketplace,
        tickets.destination_country,
        tickets.channel,
        tickets.topic,
        tickets.handled_by,
        tickets.buyer_language,
        tickets.response_language,
        tickets.contacts,
        tickets.csat,
        {{ hours_between('tickets.created_at', 'tickets.first_response_at') }} as first_response_hours,
        {{ hours_between('tickets.created_at', 'tickets.resolved_at') }} as resolution_hours,
        {{ hours_between('tickets.created_at', 'data_cutoff.latest_created_at') }} as age_at_cutoff_hours,
        tickets.first_response_at is not null as is_answered,
        tickets.resolved_at is not null as is_resolved,
        tickets.handled_by = 'bot' as is_bot_handled,
        coalesce(tickets.reopened, false) as is_reopened,
        tickets.ticket_date,
        tickets.created_at,
        tickets.first_response_at,
        tickets.resolved_at
    from tickets
    cross join data_cutoff

),

final as (

    select
        ticket_id,
        order_id,
        sku,
        marketplace,
        destination_country,
        channel,
        topic,
        handled_by,
        buyer_language,
        response_language,
        contacts,
        csat,
        first_response_hours,
        resolution_hours,
        is_answered,
        is_resolved,
        is_bot_handled,
        is_reopened,
        is_resolved and contacts = 1 and not is_reopened as is_first_contact_resolution,
        is_bot_handled and is_resolved as is_bot_resolved,
        csat >= 4 as is_satisfied,
        case
            when is_answered then coalesce(response_language = buyer_language, false)
        end as is_answered_in_buyer_language,
        case
            when is_answered then first_response_hours > {{ var('first_response_sla_hours', 24) }}
            else age_at_cutoff_hours > {{ var('first_response_sla_hours', 24) }}
        end as is_sla_breach,
        ticket_date,
        created_at,
        first_response_at,
        resolved_at
    from measured

)

select * from final
