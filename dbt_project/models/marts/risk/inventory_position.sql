-- Stock position per SKU x destination market on the latest inventory snapshot on or
-- before the as-of date (warehouses of the market summed), with the run-rate demand of the
-- last 28 days, days of cover and a naive stock-out flag: demand over the replenishment
-- lead time at the 28-day run rate exceeds on-hand plus inbound units. The stock-out alert
-- may use the demand forecast instead of the run rate.

with

positions as (

    select * from {{ ref('int_inventory_positions_resolved') }}

),

final as (

    select
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        snapshot_date as as_of_date,
        cast(warehouse_count as {{ dbt.type_bigint() }}) as warehouse_count,
        cast(on_hand_units as {{ dbt.type_bigint() }}) as on_hand_units,
        cast(inbound_units as {{ dbt.type_bigint() }}) as inbound_units,
        cast(replenishment_lead_time_days as integer) as replenishment_lead_time_days,
        cast(units_28d as {{ dbt.type_bigint() }}) as units_28d,
        cast(round(avg_daily_units_28d, 6) as {{ type_double() }}) as avg_daily_units_28d,
        cast(round({{ safe_divide('on_hand_units', 'avg_daily_units_28d') }}, 2) as {{ type_double() }})
            as days_of_cover,
        cast(
            round({{ safe_divide('on_hand_units + inbound_units', 'avg_daily_units_28d') }}, 2) as {{ type_double() }}
        ) as days_of_cover_incl_inbound,
        cast(round(avg_daily_units_28d * replenishment_lead_time_days, 4) as {{ type_double() }})
            as demand_over_lead_time_units,
        avg_daily_units_28d * replenishment_lead_time_days > on_hand_units + inbound_units as is_stockout_risk
    from positions

)

select * from final
