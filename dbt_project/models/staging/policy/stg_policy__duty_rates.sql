with

source as (

    select * from {{ source('policy', 'duty_rates') }}

),

renamed as (

    select
        -- ids
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(commodity_code as {{ dbt.type_string() }}) as commodity_code,
        -- strings
        cast(hs6 as {{ dbt.type_string() }}) as hs6,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(rate_text as {{ dbt.type_string() }}) as rate_text,
        cast(specific_currency as {{ dbt.type_string() }}) as specific_currency,
        cast(specific_unit as {{ dbt.type_string() }}) as specific_unit,
        cast(source as {{ dbt.type_string() }}) as source,
        -- numerics
        cast(ad_valorem_pct as {{ type_double() }}) as ad_valorem_pct,
        cast(specific_amount as {{ type_double() }}) as specific_amount_local,
        cast(specific_per as {{ type_double() }}) as specific_per,
        -- dates
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
