-- Weekly lane rates converted to USD at the reference FX rate of the rate week (latest
-- rate on or before its Monday).

with

freight_rates as (

    select * from {{ ref('stg_freight__freight_rates') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_spanned') }}

),

converted as (

    select
        freight_rates.lane_id,
        freight_rates.mode,
        freight_rates.origin_country,
        freight_rates.origin_port,
        freight_rates.destination_country,
        freight_rates.destination_port,
        freight_rates.rate_unit,
        freight_rates.currency,
        freight_rates.rate_local,
        fx_rates.units_per_usd,
        freight_rates.rate_local / fx_rates.units_per_usd as rate_usd,
        freight_rates.transit_days,
        freight_rates.distance_km,
        freight_rates.rate_week
    from freight_rates
    left join fx_rates
        on
            freight_rates.currency = fx_rates.currency
            and freight_rates.rate_week >= fx_rates.valid_from
            and (fx_rates.valid_to is null or freight_rates.rate_week < fx_rates.valid_to)

)

select * from converted
