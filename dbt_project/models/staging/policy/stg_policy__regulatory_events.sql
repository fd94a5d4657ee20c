with

source as (

    select * from {{ source('policy', 'regulatory_events') }}

),

renamed as (

    select
        -- ids
        cast(event_id as varchar) as event_id,
        -- strings
        cast(country_code as varchar) as country_code,
        cast(hs_scope as varchar) as hs_scope,
        cast(kind as varchar) as kind,
        cast(summary as varchar) as summary,
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
