with

source as (

    select * from {{ source('carbon', 'emission_factors') }}

),

renamed as (

    select
        -- ids
        cast(activity_id as {{ dbt.type_string() }}) as activity_id,
        -- strings
        cast(category as {{ dbt.type_string() }}) as category,
        cast(name as {{ dbt.type_string() }}) as name,
        cast(activity_unit as {{ dbt.type_string() }}) as activity_unit,
        cast(lca_activity as {{ dbt.type_string() }}) as lca_activity,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(region as {{ dbt.type_string() }}) as region,
        -- numerics
        cast(kg_co2e_per_unit as {{ type_double() }}) as kg_co2e_per_unit,
        cast(year_released as integer) as year_released,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
