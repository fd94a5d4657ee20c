-- Transit performance per lane x mode x rate week: the shipments of the lane and mode
-- that arrived in the 12 weeks ending with the rate week (rate_week - 77 days up to the
-- Sunday of the rate week), their mean and sample standard deviation of actual transit
-- days, and the on-time rate: the share of them not delayed by var transit_delay_hours or
-- more against their planned transit (see int_shipments_measured). Lane weeks without
-- arrivals get 0 shipments and NULL statistics.

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
        actual_transit_days,
        is_delayed,
        cast(arrived_at as date) as arrived_date
    from {{ ref('int_shipments_measured') }}
    where is_arrived

),

measured as (

    select
        lane_weeks.lane_id,
        lane_weeks.mode,
        lane_weeks.rate_week,
        count(shipments.lane_id) as shipments_arrived_12w,
        avg(shipments.actual_transit_days) as transit_days_mean_12w,
        stddev_samp(shipments.actual_transit_days) as transit_days_stddev_12w,
        sum(case when not shipments.is_delayed then 1 else 0 end) as on_time_shipments_12w
    from lane_weeks
    left join shipments
        on
            lane_weeks.lane_id = shipments.lane_id
            and lane_weeks.mode = shipments.mode
            and shipments.arrived_date >= {{ days_before('lane_weeks.rate_week', 77) }}
            and shipments.arrived_date < {{ days_before('lane_weeks.rate_week', -7) }}
    group by
        lane_weeks.lane_id,
        lane_weeks.mode,
        lane_weeks.rate_week

)

select
    lane_id,
    mode,
    rate_week,
    shipments_arrived_12w,
    round(transit_days_mean_12w, 4) as transit_days_mean_12w,
    round(transit_days_stddev_12w, 4) as transit_days_stddev_12w,
    round(100 * {{ safe_divide('on_time_shipments_12w', 'shipments_arrived_12w') }}, 4) as on_time_rate_12w_pct
from measured
