-- Import duty rates in force on the as-of date, one row per destination country and
-- commodity code, with the ad valorem part (0 when absent) and the specific part as
-- published (amount in its currency per `specific_per` `specific_unit`).

with

duty_rates as (

    select * from {{ ref('stg_policy__duty_rates') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

resolved as (

    select
        duty_rates.destination_country,
        duty_rates.commodity_code,
        duty_rates.hs6,
        duty_rates.rate_text,
        coalesce(duty_rates.ad_valorem_pct, 0) as ad_valorem_pct,
        duty_rates.specific_amount_local,
        duty_rates.specific_currency,
        duty_rates.specific_per,
        lower(duty_rates.specific_unit) as specific_unit,
        duty_rates.effective_from,
        duty_rates.effective_to
    from duty_rates
    cross join as_of
    where
        duty_rates.effective_from <= as_of.as_of_date
        and (duty_rates.effective_to is null or as_of.as_of_date < duty_rates.effective_to)

)

select * from resolved
