with

source as (

    select * from {{ source('policy', 'fx_rates') }}

),

renamed as (

    select
        -- ids
        cast(currency as {{ dbt.type_string() }}) as currency,
        -- numerics
        cast(units_per_usd as {{ type_double() }}) as units_per_usd,
        -- dates
        cast(rate_date as date) as rate_date,
        -- loader metadata
        _partition_date as partition_date,
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
