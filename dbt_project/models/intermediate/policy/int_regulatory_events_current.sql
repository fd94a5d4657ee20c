-- Regulatory events as currently known: the latest snapshot version of every event still
-- published (an event withdrawn from the source is dropped; a postponed one carries its
-- new effective date). hs_scope '' or NULL means all goods.

with

snapshot as (

    select * from {{ policy_history('snap_policy__regulatory_events', 'stg_policy__regulatory_events') }}

),

latest_versions as (

    select
        event_id,
        country_code,
        coalesce(hs_scope, '') as hs_scope,
        kind,
        summary,
        new_rate_pct,
        announced_on,
        effective_on,
        dbt_valid_to,
        row_number() over (partition by event_id order by dbt_valid_from desc) as version_rank
    from snapshot

)

select
    event_id,
    country_code,
    hs_scope,
    kind,
    summary,
    new_rate_pct,
    announced_on,
    effective_on
from latest_versions
where version_rank = 1 and dbt_valid_to is null
