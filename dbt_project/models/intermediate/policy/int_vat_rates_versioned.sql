-- VAT/GST rates as business-time spans from the SCD2 snapshot: the latest version of every
-- (country, effective_from) row, valid from effective_from until the first of its
-- effective_to, the next rate's effective_from in the same country, or (when the row was
-- withdrawn from the source without an end date) the day it disappeared. Spans never
-- overlap, so an as-of join ("the rate valid on the order date") finds at most one row.

with

snapshot as (

    select * from {{ policy_history('snap_policy__vat_rates', 'stg_policy__vat_rates') }}

),

latest_versions as (

    select
        country_code,
        standard_rate_pct,
        reduced_rate_pct,
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
        standard_rate_pct,
        reduced_rate_pct,
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
        standard_rate_pct,
        reduced_rate_pct,
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
