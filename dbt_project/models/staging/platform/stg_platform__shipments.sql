with

source as (

    select * from {{ source('platform', 'shipments') }}

),

renamed as (

    select
        -- ids
        cast(shipment_id as varchar) as shipment_id,
        cast(sku as varchar) as sku,
        cast(lane_id as varchar) as lane_id,
        -- strings
        cast(mode as varchar) as mode,
        cast(origin_country as varchar) as origin_country,
        cast(destination_country as varchar) as destination_country,
        cast(currency as varchar) as currency,
        -- numerics
        cast(units as integer) as units,
        cast(gross_weight_kg as {{ type_double() }}) as gross_weight_kg,
        cast(volume_cbm as {{ type_double() }}) as volume_cbm,
        cast(planned_transit_days as {{ type_double() }}) as planned_transit_days,
        cast(freight_cost as {{ type_double() }}) as freight_cost_local,
        -- timestamps
        cast(departed_at as timestamp) as departed_at,
        cast(arrived_at as timestamp) as arrived_at,
        -- dates
        cast(departed_at as date) as departed_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
