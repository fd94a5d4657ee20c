-- Transit of every replenishment shipment departed before the end of the as-of day
-- (see int_shipments_measured): planned vs actual transit, delay in hours (NULL while in
-- transit and not yet due; the hours already overdue when in transit past the planned
-- arrival) and the delay flag of the transit alert (delay_hours >= var
-- transit_delay_hours).

with

shipments as (

    select * from {{ ref('int_shipments_measured') }}

),

final as (

    select
        cast(shipment_id as {{ dbt.type_string() }}) as shipment_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(lane_id as {{ dbt.type_string() }}) as lane_id,
        cast(mode as {{ dbt.type_string() }}) as mode,
        cast(origin_country as {{ dbt.type_string() }}) as origin_country,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(transit_status as {{ dbt.type_string() }}) as transit_status,
        cast(units as integer) as units,
        cast(planned_transit_days as {{ type_double() }}) as planned_transit_days,
        cast(actual_transit_days as {{ type_double() }}) as actual_transit_days,
        cast(delay_hours as {{ type_double() }}) as delay_hours,
        cast(freight_cost_usd as {{ type_double() }}) as freight_cost_usd,
        cast(freight_cost_per_unit_usd as {{ type_double() }}) as freight_cost_per_unit_usd,
        is_delayed,
        departed_at,
        planned_arrival_at,
        arrived_at,
        as_of_at
    from shipments

)

select * from final
