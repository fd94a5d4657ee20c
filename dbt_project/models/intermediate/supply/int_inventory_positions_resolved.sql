-- Stock position per SKU x destination market on the latest inventory snapshot on or
-- before the as-of date: on-hand and inbound units summed over the market's warehouses,
-- the longest replenishment lead time among them, and the average daily units sold over
-- the last 28 days (from the demand windows; 0 when the pair did not sell).

with

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

inventory as (

    select * from {{ ref('stg_platform__inventory') }}

),

-- Reads the staging view itself, not the `inventory` CTE: DuckDB materializes a CTE that is
-- referenced twice, which here meant copying every snapshot (31M rows at SF 10, ~3 s) to
-- read one day of them.
latest_snapshot as (

    select max(snapshots.snapshot_date) as snapshot_date
    from {{ ref('stg_platform__inventory') }} as snapshots
    cross join as_of
    where snapshots.snapshot_date <= as_of.as_of_date

),

positions as (

    select
        inventory.sku,
        inventory.destination_country,
        inventory.snapshot_date,
        count(distinct inventory.warehouse_id) as warehouse_count,
        sum(inventory.on_hand_units) as on_hand_units,
        sum(inventory.inbound_units) as inbound_units,
        max(inventory.replenishment_lead_time_days) as replenishment_lead_time_days
    from inventory
    inner join latest_snapshot
        on inventory.snapshot_date = latest_snapshot.snapshot_date
    group by
        inventory.sku,
        inventory.destination_country,
        inventory.snapshot_date

),

demand as (

    select
        sku,
        destination_country,
        units_28d
    from {{ ref('int_sku_markets_aggregated') }}

),

final as (

    select
        positions.sku,
        positions.destination_country,
        positions.snapshot_date,
        positions.warehouse_count,
        positions.on_hand_units,
        positions.inbound_units,
        positions.replenishment_lead_time_days,
        coalesce(demand.units_28d, 0) as units_28d,
        -- In double on every engine (Spark would divide decimals, rounded to 6 places).
        cast(coalesce(demand.units_28d, 0) as {{ type_double() }}) / 28.0 as avg_daily_units_28d
    from positions
    left join demand
        on
            positions.sku = demand.sku
            and positions.destination_country = demand.destination_country

)

select * from final
