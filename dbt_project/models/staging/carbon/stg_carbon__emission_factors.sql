with

source as (

    select * from {{ source('carbon', 'emission_factors') }}

),

renamed as (

    select
        -- ids
        cast(activity_id as varchar) as activity_id,
        -- strings
        cast(category as varchar) as category,
        cast(name as varchar) as name,
        cast(activity_unit as varchar) as activity_unit,
        cast(lca_activity as varchar) as lca_activity,
        cast(source as varchar) as source,
        cast(region as varchar) as region,
        -- numerics
        cast(kg_co2e_per_unit as {{ type_double() }}) as kg_co2e_per_unit,
        cast(year_released as integer) as year_released,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
