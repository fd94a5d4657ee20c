with

source as (

    select * from {{ source('carbon', 'cbam_scope') }}

),

renamed as (

    select
        -- ids
        cast(hs_prefix as {{ dbt.type_string() }}) as hs_prefix,
        -- strings
        cast(sector as {{ dbt.type_string() }}) as sector,
        cast(source as {{ dbt.type_string() }}) as source,
        -- numerics
        cast(default_kg_co2e_per_kg as {{ type_double() }}) as default_kg_co2e_per_kg,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
