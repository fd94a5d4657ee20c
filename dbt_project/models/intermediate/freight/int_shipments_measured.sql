-- One row per replenishment shipment departed before the end of the as-of day, measured
-- at that moment (as_of_at = as-of date + 1 day, 00:00 UTC): planned arrival = departure +
-- planned transit days; a shipment that arrived after as_of_at is still in transit as of
-- then. delay_hours = actual - planned transit in hours for arrived shipments (negative when
-- early); for shipments in transit, the hours they are already overdue at as_of_at, NULL
-- while not yet due. A shipment is delayed when delay_hours >= var transit_delay_hours.
-- Freight cost in USD at the FX rate of the departure day.

with

shipments as (

    select * from {{ ref('stg_platform__shipments') }}

),

as_of as (

    select
        as_of_date,
        cast({{ dbt.dateadd('day', 1, 'as_of_date') }} as timestamp) as as_of_at
    from {{ ref('int_as_of_dates_resolved') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_spanned') }}

),

observed as (

    select
        shipments.shipment_id,
        shipments.sku,
        shipments.lane_id,
        shipments.mode,
        shipments.origin_country,
        shipments.destination_country,
        shipments.units,
        shipments.gross_weight_kg,
        shipments.volume_cbm,
        shipments.planned_transit_days,
        shipments.freight_cost_local,
        shipments.currency,
        shipments.freight_cost_local / fx_rates.units_per_usd as freight_cost_usd,
        shipments.departed_at,
        case when shipments.arrived_at < as_of.as_of_at then shipments.arrived_at end as arrived_at,
        {{ dbt.dateadd(
            'second', 'cast(round(shipments.planned_transit_days * 86400) as bigint)', 'shipments.departed_at'
        ) }} as planned_arrival_at,
        as_of.as_of_at
    from shipments
    cross join as_of
    left join fx_rates
        on
            shipments.currency = fx_rates.currency
            and shipments.departed_date >= fx_rates.valid_from
            and (fx_rates.valid_to is null or shipments.departed_date < fx_rates.valid_to)
    where shipments.departed_at < as_of.as_of_at

),

measured as (

    select
        *,
        {{ hours_between('departed_at', 'arrived_at') }} / 24.0 as actual_transit_days,
        case
            when arrived_at is not null
                then {{ hours_between('departed_at', 'arrived_at') }} - planned_transit_days * 24
            when {{ hours_between('departed_at', 'as_of_at') }} > planned_transit_days * 24
                then {{ hours_between('departed_at', 'as_of_at') }} - planned_transit_days * 24
        end as delay_hours
    from observed

),

final as (

    select
        shipment_id,
        sku,
        lane_id,
        mode,
        origin_country,
        destination_country,
        case
            when arrived_at is not null then 'arrived'
            when delay_hours is not null then 'overdue'
            else 'in_transit'
        end as transit_status,
        currency,
        units,
        gross_weight_kg,
        volume_cbm,
        planned_transit_days,
        round(actual_transit_days, 4) as actual_transit_days,
        round(delay_hours, 4) as delay_hours,
        freight_cost_local,
        round(freight_cost_usd, 4) as freight_cost_usd,
        round({{ safe_divide('freight_cost_usd', 'units') }}, 6) as freight_cost_per_unit_usd,
        arrived_at is not null as is_arrived,
        coalesce(delay_hours >= {{ var('transit_delay_hours', 48) }}, false) as is_delayed,
        departed_at,
        planned_arrival_at,
        arrived_at,
        as_of_at
    from measured

)

select * from final
