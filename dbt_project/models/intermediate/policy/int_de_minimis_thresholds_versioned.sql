-- De-minimis thresholds (duty and VAT) as business-time spans from the SCD2 snapshot, per
-- country and what they exempt (same rule as int_vat_rates_versioned; never overlapping).
-- Amounts stay in their published currency: the as-of models convert them with the FX
-- rate of their own date.

with

snapshot as (

    select * from {{ policy_history('snap_policy__de_minimis', 'stg_policy__de_minimis') }}

),

latest_versions as (

    select
        country_code,
        applies_to,
        currency,
        threshold_amount_local,
        effective_from,
        effective_to,
        cast(dbt_valid_to as date) as withdrawn_on,
        row_number() over (
            partition by country_code, applies_to, effective_from
            order by dbt_valid_from desc
        ) as version_rank
    from snapshot

),

bounded as (

    select
        country_code,
        applies_to,
        currency,
        threshold_amount_local,
        effective_from as valid_from,
        coalesce(effective_to, withdrawn_on) as declared_valid_to,
        lead(effective_from) over (
            partition by country_code, applies_to order by effective_from
        ) as next_valid_from,
        withdrawn_on is not null as is_withdrawn
    from latest_versions
    where version_rank = 1

),

spanned as (

    select
        country_code,
        applies_to,
        currency,
        threshold_amount_local,
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
