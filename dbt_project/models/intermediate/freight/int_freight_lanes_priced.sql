-- The freight rate a landed cost uses: for every lane and mode its latest weekly rate on
-- or before the as-of date, then averaged per origin country x destination country x
-- mode (several ports can serve the same country pair).

with

freight_rates as (

    select * from {{ ref('int_freight_rates_converted') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

ranked as (

    select
        freight_rates.*,
        row_number() over (
            partition by freight_rates.lane_id, freight_rates.mode
            order by freight_rates.rate_week desc
        ) as recency_rank
    from freight_rates
    cross join as_of
    where freight_rates.rate_week <= as_of.as_of_date

),

priced as (

    select
        origin_country,
        destination_country,
        mode,
        rate_unit,
        count(*) as lanes,
        avg(rate_usd) as rate_usd,
        avg(transit_days) as transit_days,
        avg(distance_km) as distance_km,
        max(rate_week) as latest_rate_week
    from ranked
    where recency_rank = 1
    group by
        origin_country,
        destination_country,
        mode,
        rate_unit

)

select * from priced
