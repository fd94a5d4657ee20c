with

source as (

    select * from {{ source('platform', 'reviews') }}

),

renamed as (

    select
        -- ids
        cast(review_id as {{ dbt.type_string() }}) as review_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        -- strings
        cast(marketplace as {{ dbt.type_string() }}) as marketplace,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(topic as {{ dbt.type_string() }}) as topic,
        cast(language as {{ dbt.type_string() }}) as language,
        -- numerics
        cast(rating as integer) as rating,
        -- timestamps
        cast(reviewed_at as timestamp) as reviewed_at,
        -- dates
        cast(reviewed_at as date) as review_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
