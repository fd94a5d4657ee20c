-- Import duty rates as business-time spans from the SCD2 snapshot, per destination and
-- commodity code (same rule as int_vat_rates_versioned; never overlapping). The ad valorem
-- part is 0 when absent; the specific part stays as published (amount in its currency per
-- `specific_per` `specific_unit`, unit lower-cased).

with

snapshot as (

    select * from {{ policy_history('snap_policy__duty_rates', 'stg_policy__duty_rates') }}

),

latest_versions as (

    select
        destination_country,
        commodity_code,
        hs6,
        rate_text,
        ad_valorem_pct,
        specific_amount_local,
        specific_currency,
        specific_per,
        specific_unit,
        effective_from,
        effective_to,
        cast(dbt_valid_to as date) as withdrawn_on,
        row_number() over (
            partition by destination_country, commodity_code, effective_from
            order by dbt_valid_from desc
        ) as version_rank
    from snapshot

),

bounded as (

    select
        destination_country,
        commodity_code,
        hs6,
        rate_text,
        coalesce(ad_valorem_pct, 0) as ad_valorem_pct,
        specific_amount_local,
        specific_currency,
        specific_per,
        lower(specific_unit) as specific_unit,
        effective_from as valid_from,
        coalesce(effective_to, withdrawn_on) as declared_valid_to,
        lead(effective_from) over (
            partition by destination_country, commodity_code order by effective_from
        ) as next_valid_from,
        withdrawn_on is not null as is_withdrawn
    from latest_versions
    where version_rank = 1

),

spanned as (

    select
        destination_country,
        commodity_code,
        hs6,
        rate_text,
        ad_valorem_pct,
        specific_amount_local,
        specific_currency,
        specific_per,
        specific_unit,
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
