with

source as (

    select * from {{ source('platform', 'competitors') }}

),

renamed as (

    select
        -- ids
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(marketplace as {{ dbt.type_string() }}) as marketplace,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        -- strings
        cast(currency as {{ dbt.type_string() }}) as currency,
        -- numerics
        cast(sellers_on_listing as integer) as sellers_on_listing,
        cast(competitor_median_price as {{ type_double() }}) as competitor_median_price_local,
        cast(competitor_review_count as integer) as competitor_review_count,
        cast(own_review_count as integer) as own_review_count,
        -- dates
        cast(snapshot_date as date) as snapshot_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
