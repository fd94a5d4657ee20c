with

source as (

    select * from {{ source('platform', 'shipments') }}

),

renamed as (

    select
        -- ids
        cast(shipment_id as {{ dbt.type_string() }}) as shipment_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(lane_id as {{ dbt.type_string() }}) as lane_id,
        -- strings
        cast(mode as {{ dbt.type_string() }}) as mode,
        cast(origin_country as {{ dbt.type_string() }}) as origin_country,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(currency as {{ dbt.type_string() }}) as currency,
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
