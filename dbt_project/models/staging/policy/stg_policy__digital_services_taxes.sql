with

source as (

    select * from {{ source('policy', 'digital_services_taxes') }}

),

renamed as (

    select
        -- ids
        cast(country_code as varchar) as country_code,
        -- strings
        cast(scope as varchar) as scope,
        cast(source as varchar) as source,
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
