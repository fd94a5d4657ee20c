-- Import duty rates in force on the as-of date (as-of join on the business-time spans of
-- the duty snapshot), one row per destination country and commodity code, with the ad
-- valorem part (0 when absent) and the specific part as published (amount in its currency
-- per `specific_per` `specific_unit`).

with

duty_rates as (

    select * from {{ ref('int_duty_rates_versioned') }}

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
        duty_rates.ad_valorem_pct,
        duty_rates.specific_amount_local,
        duty_rates.specific_currency,
        duty_rates.specific_per,
        duty_rates.specific_unit,
        duty_rates.valid_from as effective_from,
        duty_rates.valid_to as effective_to
    from duty_rates
    cross join as_of
    where
        duty_rates.valid_from <= as_of.as_of_date
        and (duty_rates.valid_to is null or as_of.as_of_date < duty_rates.valid_to)

)

select * from resolved
