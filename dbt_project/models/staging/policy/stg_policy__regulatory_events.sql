with

source as (

    select * from {{ source('policy', 'regulatory_events') }}

),

renamed as (

    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        -- strings
        cast(country_code as {{ dbt.type_string() }}) as country_code,
        cast(hs_scope as {{ dbt.type_string() }}) as hs_scope,
        cast(kind as {{ dbt.type_string() }}) as kind,
        cast(summary as {{ dbt.type_string() }}) as summary,
        -- numerics
        cast(new_rate_pct as {{ type_double() }}) as new_rate_pct,
        -- dates
        cast(announced_on as date) as announced_on,
        cast(effective_on as date) as effective_on,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
