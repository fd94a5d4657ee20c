with

source as (

    select * from {{ source('carbon', 'carbon_prices') }}

),

renamed as (

    select
        -- ids
        cast(scheme as {{ dbt.type_string() }}) as scheme,
        -- strings
        cast(currency as {{ dbt.type_string() }}) as currency,
        -- numerics
        cast(price as {{ type_double() }}) as price_per_tonne_local,
        -- dates
        cast(price_date as date) as price_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
