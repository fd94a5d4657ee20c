with

source as (

    select * from {{ source('platform', 'traffic') }}

),

renamed as (

    select
        -- ids
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(marketplace as {{ dbt.type_string() }}) as marketplace,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        -- numerics
        cast(sessions as integer) as sessions,
        cast(page_views as integer) as page_views,
        cast(add_to_cart as integer) as add_to_cart,
        cast(ordered_sessions as integer) as ordered_sessions,
        -- dates
        cast(traffic_date as date) as traffic_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
