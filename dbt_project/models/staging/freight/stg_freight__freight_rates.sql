with

source as (

    select * from {{ source('freight', 'freight_rates') }}

),

renamed as (

    select
        -- ids
        cast(lane_id as varchar) as lane_id,
        cast(mode as varchar) as mode,
        -- strings
        cast(origin_country as varchar) as origin_country,
        cast(origin_port as varchar) as origin_port,
        cast(destination_country as varchar) as destination_country,
        cast(destination_port as varchar) as destination_port,
        cast(rate_unit as varchar) as rate_unit,
        cast(currency as varchar) as currency,
        -- numerics
        cast(rate as {{ type_double() }}) as rate_local,
        cast(transit_days as {{ type_double() }}) as transit_days,
        cast(distance_km as {{ type_double() }}) as distance_km,
        -- dates
        cast(rate_week as date) as rate_week,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
