with

source as (

    select * from {{ source('policy', 'de_minimis') }}

),

renamed as (

    select
        -- ids
        cast(country_code as {{ dbt.type_string() }}) as country_code,
        cast(applies_to as {{ dbt.type_string() }}) as applies_to,
        -- strings
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(source as {{ dbt.type_string() }}) as source,
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
