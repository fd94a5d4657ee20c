with

source as (

    select * from {{ source('policy', 'de_minimis') }}

),

renamed as (

    select
        -- ids
        cast(country_code as varchar) as country_code,
        cast(applies_to as varchar) as applies_to,
        -- strings
        cast(currency as varchar) as currency,
        cast(source as varchar) as source,
        -- numerics
        cast(threshold_amount as {{ type_double() }}) as threshold_amount_local,
        -- dates
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
