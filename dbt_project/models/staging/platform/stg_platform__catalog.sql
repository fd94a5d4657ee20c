with

source as (

    select * from {{ source('platform', 'catalog') }}

),

renamed as (

    select
        -- ids
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        -- strings
        cast(title as {{ dbt.type_string() }}) as title,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(cost_currency as {{ dbt.type_string() }}) as cost_currency,
        cast(hs_code as {{ dbt.type_string() }}) as hs_code,
        cast(origin_country as {{ dbt.type_string() }}) as origin_country,
        cast(supplier_country as {{ dbt.type_string() }}) as supplier_country,
        cast(voltage as {{ dbt.type_string() }}) as voltage,
        cast(plug_type as {{ dbt.type_string() }}) as plug_type,
        cast(doc_languages as {{ dbt.type_string() }}) as doc_languages,
        -- numerics
        cast(unit_cost as {{ type_double() }}) as unit_cost_local,
        cast(weight_kg as {{ type_double() }}) as weight_kg,
        cast(length_cm as {{ type_double() }}) as length_cm,
        cast(width_cm as {{ type_double() }}) as width_cm,
        cast(height_cm as {{ type_double() }}) as height_cm,
        -- booleans
        cast(has_battery as boolean) as has_battery,
        -- dates
        cast(launched_on as date) as launched_on,
        -- loader metadata
        _source_file as source_file,
        _loaded_at as loaded_at
    from source

)

select * from renamed
