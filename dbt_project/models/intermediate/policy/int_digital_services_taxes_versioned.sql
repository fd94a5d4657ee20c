-- Digital-services taxes as business-time spans from the SCD2 snapshot (same rule as
-- int_vat_rates_versioned: latest version, valid until effective_to, the next rate of the
-- country or the day the row was withdrawn, whichever comes first; never overlapping).

with

snapshot as (

    select * from {{ policy_history('snap_policy__digital_services_taxes', 'stg_policy__digital_services_taxes') }}

),

latest_versions as (

    select
        country_code,
        scope,
        dst_rate_pct,
        effective_from,
        effective_to,
        cast(dbt_valid_to as date) as withdrawn_on,
        row_number() over (
            partition by country_code, effective_from
            order by dbt_valid_from desc
        ) as version_rank
    from snapshot

),

bounded as (

    select
        country_code,
        scope,
        dst_rate_pct,
        effective_from as valid_from,
        coalesce(effective_to, withdrawn_on) as declared_valid_to,
        lead(effective_from) over (partition by country_code order by effective_from) as next_valid_from,
        withdrawn_on is not null as is_withdrawn
    from latest_versions
    where version_rank = 1

),

spanned as (

    select
        country_code,
        scope,
        dst_rate_pct,
        valid_from,
        case
            when declared_valid_to is null then next_valid_from
            when next_valid_from is null then declared_valid_to
            when next_valid_from < declared_valid_to then next_valid_from
            else declared_valid_to
        end as valid_to,
        is_withdrawn
    from bounded

)

select * from spanned
where valid_to is null or valid_to > valid_from
