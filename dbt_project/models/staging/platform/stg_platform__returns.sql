with

source as (

    select * from {{ source('platform', 'returns') }}

),

renamed as (

    select
        -- ids
        cast(return_id as {{ dbt.type_string() }}) as return_id,
        cast(order_line_id as {{ dbt.type_string() }}) as order_line_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        -- strings
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(reason as {{ dbt.type_string() }}) as reason,
        -- numerics
        cast(quantity as integer) as quantity,
        -- timestamps
        cast(returned_at as timestamp) as returned_at,
        -- dates
        cast(returned_at as date) as return_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
