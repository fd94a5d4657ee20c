-- Lane statistics per lane x mode x rate week, in USD: change vs the week before and vs
-- 4 weeks before (exact calendar weeks, NULL when that week is missing), and the mean,
-- sample standard deviation and coefficient of variation of the trailing 12 weeks
-- EXCLUDING the current week, with the current rate's z-score against them (only when
-- at least var `freight_zscore_min_weeks` of those 12 weeks have a rate).

with

rates as (

    select * from {{ ref('int_freight_rates_converted') }}

),

trailing_12w as (

    select
        rates.lane_id,
        rates.mode,
        rates.rate_week,
        count(history.rate_usd) as weeks_12w,
        avg(history.rate_usd) as mean_12w_usd,
        stddev_samp(history.rate_usd) as stddev_12w_usd
    from rates
    inner join rates as history
        on
            rates.lane_id = history.lane_id
            and rates.mode = history.mode
            and rates.rate_week > history.rate_week
            and history.rate_week >= {{ days_before('rates.rate_week', 84) }}
    group by
        rates.lane_id,
        rates.mode,
        rates.rate_week

),

compared as (

    select
        rates.lane_id,
        rates.mode,
        rates.rate_week,
        rates.origin_country,
        rates.destination_country,
        rates.rate_unit,
        rates.currency,
        rates.rate_local,
        rates.rate_usd,
        rates.transit_days,
        rates.distance_km,
        previous_week.rate_usd as prev_week_rate_usd,
        four_weeks_before.rate_usd as rate_4w_ago_usd,
        coalesce(trailing_12w.weeks_12w, 0) as weeks_12w,
        trailing_12w.mean_12w_usd,
        trailing_12w.stddev_12w_usd
    from rates
    left join rates as previous_week
        on
            rates.lane_id = previous_week.lane_id
            and rates.mode = previous_week.mode
            and previous_week.rate_week = {{ days_before('rates.rate_week', 7) }}
    left join rates as four_weeks_before
        on
            rates.lane_id = four_weeks_before.lane_id
            and rates.mode = four_weeks_before.mode
            and four_weeks_before.rate_week = {{ days_before('rates.rate_week', 28) }}
    left join trailing_12w
        on
            rates.lane_id = trailing_12w.lane_id
            and rates.mode = trailing_12w.mode
            and rates.rate_week = trailing_12w.rate_week

),

final as (

    select
        lane_id,
        mode,
        rate_week,
        origin_country,
        destination_country,
        rate_unit,
        currency,
        rate_local,
        rate_usd,
        transit_days,
        distance_km,
        prev_week_rate_usd,
        round(100 * ({{ safe_divide('rate_usd', 'prev_week_rate_usd') }} - 1), 4) as wow_change_pct,
        rate_4w_ago_usd,
        round(100 * ({{ safe_divide('rate_usd', 'rate_4w_ago_usd') }} - 1), 4) as change_4w_pct,
        weeks_12w,
        -- Through decimal(24, 8) first: float sums in a parallel window may differ in the last bits
        -- between two builds, which flipped values exactly half-way at the 4th decimal.
        cast(round(cast(mean_12w_usd as decimal(24, 8)), 4) as double) as mean_12w_usd,
        cast(round(cast(stddev_12w_usd as decimal(24, 8)), 4) as double) as stddev_12w_usd,
        round({{ safe_divide('stddev_12w_usd', 'mean_12w_usd') }}, 6) as volatility_cv_12w,
        case
            when weeks_12w >= {{ var('freight_zscore_min_weeks', 8) }}
                then round({{ safe_divide('rate_usd - mean_12w_usd', 'stddev_12w_usd') }}, 4)
        end as zscore_12w
    from compared

)

select * from final
