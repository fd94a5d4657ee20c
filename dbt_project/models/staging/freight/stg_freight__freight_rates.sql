with

source as (

    select * from {{ source('freight', 'freight_rates') }}

),

renamed as (

    select
        -- ids
        cast(lane_id as {{ dbt.type_string() }}) as lane_id,
        cast(mode as {{ dbt.type_string() }}) as mode,
        -- strings
        cast(origin_country as {{ dbt.type_string() }}) as origin_country,
        cast(origin_port as {{ dbt.type_string() }}) as origin_port,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(destination_port as {{ dbt.type_string() }}) as destination_port,
        cast(rate_unit as {{ dbt.type_string() }}) as rate_unit,
        cast(currency as {{ dbt.type_string() }}) as currency,
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
