-- Freight lane risk per lane x mode x rate week, in USD. Spike: week-over-week change at
-- or above var freight_spike_wow_pct, or z-score vs the trailing 12 weeks (current week
-- excluded) at or above var freight_spike_zscore; critical at or above var
-- freight_spike_critical_pct week over week. Risk tier:
--   high    spiking, or 12-week coefficient of variation >= var freight_risk_high_cv
--   medium  12-week CV >= var freight_risk_medium_cv, or up >= var
--           freight_risk_medium_change_4w_pct over 4 weeks, or fewer than var
--           freight_risk_medium_on_time_pct % of the shipments arrived in the last 12
--           weeks on time
--   low     otherwise (including lanes without enough history)
-- Transit: the lane's shipments arrived in the 12 weeks ending with the rate week
-- (int_lane_weeks_transits_measured).

with

lane_weeks as (

    select * from {{ ref('int_freight_rates_compared') }}

),

transits as (

    select * from {{ ref('int_lane_weeks_transits_measured') }}

),

flagged as (

    select
        lane_weeks.*,
        transits.shipments_arrived_12w,
        transits.transit_days_mean_12w,
        transits.transit_days_stddev_12w,
        transits.on_time_rate_12w_pct,
        coalesce(lane_weeks.wow_change_pct >= {{ var('freight_spike_wow_pct', 25) }}, false)
        or coalesce(lane_weeks.zscore_12w >= {{ var('freight_spike_zscore', 3) }}, false) as is_spike
    from lane_weeks
    left join transits
        on
            lane_weeks.lane_id = transits.lane_id
            and lane_weeks.mode = transits.mode
            and lane_weeks.rate_week = transits.rate_week

),

final as (

    select
        cast(lane_id as {{ dbt.type_string() }}) as lane_id,
        cast(mode as {{ dbt.type_string() }}) as mode,
        cast(origin_country as {{ dbt.type_string() }}) as origin_country,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        rate_week,
        cast(rate_unit as {{ dbt.type_string() }}) as rate_unit,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(rate_local as {{ type_double() }}) as rate_local,
        cast(round(rate_usd, 4) as {{ type_double() }}) as rate_usd,
        cast(round(prev_week_rate_usd, 4) as {{ type_double() }}) as prev_week_rate_usd,
        cast(wow_change_pct as {{ type_double() }}) as wow_change_pct,
        cast(change_4w_pct as {{ type_double() }}) as change_4w_pct,
        cast(weeks_12w as {{ dbt.type_bigint() }}) as weeks_12w,
        cast(mean_12w_usd as {{ type_double() }}) as mean_12w_usd,
        cast(stddev_12w_usd as {{ type_double() }}) as stddev_12w_usd,
        cast(volatility_cv_12w as {{ type_double() }}) as volatility_cv_12w,
        cast(zscore_12w as {{ type_double() }}) as zscore_12w,
        cast(transit_days as {{ type_double() }}) as transit_days,
        cast(distance_km as {{ type_double() }}) as distance_km,
        is_spike,
        cast(
            case
                when
                    is_spike
                    and coalesce(wow_change_pct >= {{ var('freight_spike_critical_pct', 100) }}, false)
                    then 'critical'
                when is_spike then 'warning'
            end as {{ dbt.type_string() }}
        ) as spike_severity,
        cast(
            case
                when is_spike or volatility_cv_12w >= {{ var('freight_risk_high_cv', 0.20) }} then 'high'
                when
                    volatility_cv_12w >= {{ var('freight_risk_medium_cv', 0.10) }}
                    or change_4w_pct >= {{ var('freight_risk_medium_change_4w_pct', 20) }}
                    or on_time_rate_12w_pct < {{ var('freight_risk_medium_on_time_pct', 80) }}
                    then 'medium'
                else 'low'
            end as {{ dbt.type_string() }}
        ) as risk_tier,
        cast(coalesce(shipments_arrived_12w, 0) as {{ dbt.type_bigint() }}) as shipments_arrived_12w,
        cast(transit_days_mean_12w as {{ type_double() }}) as transit_days_mean_12w,
        cast(transit_days_stddev_12w as {{ type_double() }}) as transit_days_stddev_12w,
        cast(on_time_rate_12w_pct as {{ type_double() }}) as on_time_rate_12w_pct
    from flagged

)

select * from final
