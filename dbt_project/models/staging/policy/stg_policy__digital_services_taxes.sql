with

source as (

    select * from {{ source('policy', 'digital_services_taxes') }}

),

renamed as (

    select
        -- ids
        cast(country_code as {{ dbt.type_string() }}) as country_code,
        -- strings
        cast(scope as {{ dbt.type_string() }}) as scope,
        cast(source as {{ dbt.type_string() }}) as source,
        -- numerics
        cast(rate_pct as {{ type_double() }}) as dst_rate_pct,
        -- dates
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
