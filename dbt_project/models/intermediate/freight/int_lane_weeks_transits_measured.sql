-- Transit performance per lane x mode x rate week: the shipments of the lane and mode
-- that arrived in the 12 weeks ending with the rate week (rate_week - 77 days up to the
-- Sunday of the rate week), their mean and sample standard deviation of actual transit
-- days, and the on-time rate: the share of them not delayed by var transit_delay_hours or
-- more against their planned transit (see int_shipments_measured). Lane weeks without
-- arrivals get 0 shipments and NULL statistics.
--
-- Rate weeks are Mondays, so an arrival counts for exactly 12 of them: the Monday of its
-- own week and the 11 after. Each arrival is repeated for those 12 weeks and joined on
-- equality, instead of joining every rate week with every arrival of its lane and
-- filtering the dates (a range join over all pairs: 5x slower at SF 10, same rows).
--
-- Mean and standard deviation from exact integer sums: actual transit days carry 4
-- decimals, so they are summed as whole 1e-4 days (transit_units). A float avg() or
-- stddev_samp() adds in whatever order the parallel aggregation meets the rows, and about
-- one mean in six is exactly half-way at the 4th decimal (two shipments, an odd sum), so
-- the rounded mean flipped between two builds of the same data. Integer sums do not
-- depend on the order; what is computed from them in floating point then is the same
-- every time.

-- A table, not a view: risk_lane_weekly and the key test both read it.
{{ config(materialized='table') }}

with

lane_weeks as (

    select
        lane_id,
        mode,
        rate_week
    from {{ ref('int_freight_rates_converted') }}

),

shipments as (

    select
        lane_id,
        mode,
        cast(round(actual_transit_days * 10000) as {{ dbt.type_bigint() }}) as transit_units,
        is_delayed,
        cast({{ dbt.date_trunc('week', 'cast(arrived_at as date)') }} as date) as arrival_week
    from {{ ref('int_shipments_measured') }}
    where is_arrived

),

week_offsets as (

    select 0 as weeks_after
    union all
    select 1 as weeks_after
    union all
    select 2 as weeks_after
    union all
    select 3 as weeks_after
    union all
    select 4 as weeks_after
    union all
    select 5 as weeks_after
    union all
    select 6 as weeks_after
    union all
    select 7 as weeks_after
    union all
    select 8 as weeks_after
    union all
    select 9 as weeks_after
    union all
    select 10 as weeks_after
    union all
    select 11 as weeks_after

),

shipment_rate_weeks as (

    select
        shipments.lane_id,
        shipments.mode,
        shipments.transit_units,
        shipments.is_delayed,
        cast({{ dbt.dateadd('day', '7 * week_offsets.weeks_after', 'shipments.arrival_week') }} as date) as rate_week
    from shipments
    cross join week_offsets

),

measured as (

    select
        lane_weeks.lane_id,
        lane_weeks.mode,
        lane_weeks.rate_week,
        count(shipment_rate_weeks.lane_id) as shipments_arrived_12w,
        sum(shipment_rate_weeks.transit_units) as transit_units_sum,
        sum(shipment_rate_weeks.transit_units * shipment_rate_weeks.transit_units) as transit_units_squares_sum,
        sum(case when not shipment_rate_weeks.is_delayed then 1 else 0 end) as on_time_shipments_12w
    from lane_weeks
    left join shipment_rate_weeks
        on
            lane_weeks.lane_id = shipment_rate_weeks.lane_id
            and lane_weeks.mode = shipment_rate_weeks.mode
            and lane_weeks.rate_week = shipment_rate_weeks.rate_week
    group by
        lane_weeks.lane_id,
        lane_weeks.mode,
        lane_weeks.rate_week

),

variances as (

    -- Sample variance (n * sum(x^2) - sum(x)^2) / (n (n - 1)), the numerator exact in decimal(38, 0);
    -- NULL for fewer than two shipments.
    select
        lane_id,
        mode,
        rate_week,
        shipments_arrived_12w,
        transit_units_sum,
        on_time_shipments_12w,
        cast(
            cast(shipments_arrived_12w as decimal(38, 0)) * transit_units_squares_sum
            - cast(transit_units_sum as decimal(38, 0)) * transit_units_sum
            as {{ type_double() }}
        ) / nullif(shipments_arrived_12w * (shipments_arrived_12w - 1), 0) as transit_units_variance
    from measured

)

select
    lane_id,
    mode,
    rate_week,
    shipments_arrived_12w,
    round({{ safe_divide('transit_units_sum', 'shipments_arrived_12w') }}, 0) / 10000 as transit_days_mean_12w,
    round(sqrt(transit_units_variance), 0) / 10000 as transit_days_stddev_12w,
    round(100 * {{ safe_divide('on_time_shipments_12w', 'shipments_arrived_12w') }}, 4) as on_time_rate_12w_pct
from variances
