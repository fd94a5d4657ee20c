with

source as (

    select * from {{ source('platform', 'tickets') }}

),

renamed as (

    select
        -- ids
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        -- strings
        cast(marketplace as {{ dbt.type_string() }}) as marketplace,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(buyer_language as {{ dbt.type_string() }}) as buyer_language,
        cast(response_language as {{ dbt.type_string() }}) as response_language,
        cast(topic as {{ dbt.type_string() }}) as topic,
        cast(handled_by as {{ dbt.type_string() }}) as handled_by,
        -- numerics
        cast(contacts as integer) as contacts,
        cast(csat as integer) as csat,
        -- booleans
        cast(reopened as boolean) as reopened,
        -- timestamps
        cast(created_at as timestamp) as created_at,
        cast(first_response_at as timestamp) as first_response_at,
        cast(resolved_at as timestamp) as resolved_at,
        -- dates
        cast(created_at as date) as ticket_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
