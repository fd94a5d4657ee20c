with

source as (

    select * from {{ source('platform', 'catalog') }}

),

renamed as (

    select
        -- ids
        cast(sku as varchar) as sku,
        cast(supplier_id as varchar) as supplier_id,
        -- strings
        cast(title as varchar) as title,
        cast(category as varchar) as category,
        cast(cost_currency as varchar) as cost_currency,
        cast(hs_code as varchar) as hs_code,
        cast(origin_country as varchar) as origin_country,
        cast(supplier_country as varchar) as supplier_country,
        cast(voltage as varchar) as voltage,
        cast(plug_type as varchar) as plug_type,
        cast(doc_languages as varchar) as doc_languages,
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
