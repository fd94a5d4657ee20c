with

source as (

    select * from {{ source('platform', 'orders') }}

),

renamed as (

    select
        -- ids
        cast(order_line_id as {{ dbt.type_string() }}) as order_line_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        -- strings
        cast(marketplace as {{ dbt.type_string() }}) as marketplace,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(currency as {{ dbt.type_string() }}) as currency,
        -- numerics
        cast(quantity as integer) as quantity,
        cast(unit_price as {{ type_double() }}) as unit_price_local,
        -- timestamps
        cast(ordered_at as timestamp) as ordered_at,
        -- dates
        cast(ordered_at as date) as order_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
