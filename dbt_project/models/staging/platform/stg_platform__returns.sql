with

source as (

    select * from {{ source('platform', 'returns') }}

),

renamed as (

    select
        -- ids
        cast(return_id as varchar) as return_id,
        cast(order_line_id as varchar) as order_line_id,
        cast(sku as varchar) as sku,
        -- strings
        cast(destination_country as varchar) as destination_country,
        cast(reason as varchar) as reason,
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
