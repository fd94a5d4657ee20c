with

source as (

    select * from {{ source('platform', 'inventory') }}

),

renamed as (

    select
        -- ids
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(warehouse_id as {{ dbt.type_string() }}) as warehouse_id,
        -- strings
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        -- numerics
        cast(on_hand_units as integer) as on_hand_units,
        cast(inbound_units as integer) as inbound_units,
        cast(replenishment_lead_time_days as integer) as replenishment_lead_time_days,
        -- dates
        cast(snapshot_date as date) as snapshot_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
