-- Reference FX rates as validity spans: each daily rate holds from its date until the
-- next published rate of the same currency (exclusive), so an as-of lookup is a plain
-- range join ("latest rate on or before the date") that every adapter can run. USD is
-- added with rate 1 over all time.

with

fx_rates as (

    select
        currency,
        rate_date,
        units_per_usd
    from {{ ref('stg_policy__fx_rates') }}
    where currency <> 'USD'

),

spanned as (

    select
        currency,
        rate_date as valid_from,
        lead(rate_date) over (partition by currency order by rate_date) as valid_to,
        units_per_usd
    from fx_rates

),

usd as (

    select
        'USD' as currency,
        cast('1900-01-01' as date) as valid_from,
        cast(null as date) as valid_to,
        cast(1 as {{ type_double() }}) as units_per_usd

),

unioned as (

    select * from spanned
    union all
    select * from usd

)

select * from unioned
