with

source as (

    select * from {{ source('platform', 'reviews') }}

),

renamed as (

    select
        -- ids
        cast(review_id as varchar) as review_id,
        cast(sku as varchar) as sku,
        -- strings
        cast(marketplace as varchar) as marketplace,
        cast(destination_country as varchar) as destination_country,
        cast(topic as varchar) as topic,
        cast(language as varchar) as language,
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
