-- Supplier concentration per category x supplier (see int_category_suppliers_concentrated):
-- 90-day units and unit share, the category's Herfindahl-Hirschman index on the 0..10,000
-- scale, single-supplier dependence (share above var supplier_concentration_share, a
-- fraction: 0.8 = 80%) and the supplier country's risk tier.

with

concentration as (

    select * from {{ ref('int_category_suppliers_concentrated') }}

),

final as (

    select
        cast(category as {{ dbt.type_string() }}) as category,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(supplier_country as {{ dbt.type_string() }}) as supplier_country,
        cast(supplier_country_risk_tier as {{ dbt.type_string() }}) as supplier_country_risk_tier,
        cast(skus as {{ dbt.type_bigint() }}) as skus,
        cast(units_90d as {{ dbt.type_bigint() }}) as units_90d,
        cast(category_units_90d as {{ dbt.type_bigint() }}) as category_units_90d,
        cast(category_suppliers as {{ dbt.type_bigint() }}) as category_suppliers,
        cast(supplier_rank as {{ dbt.type_bigint() }}) as supplier_rank,
        cast(round(unit_share_pct, 4) as {{ type_double() }}) as unit_share_pct,
        cast(round(category_hhi, 2) as {{ type_double() }}) as category_hhi,
        cast(
            case
                when category_hhi > 2500 then 'high'
                when category_hhi >= 1500 then 'moderate'
                when category_hhi is not null then 'low'
            end as {{ dbt.type_string() }}
        ) as category_concentration_tier,
        coalesce(unit_share_pct > 100 * {{ var('supplier_concentration_share', 0.8) }}, false)
            as is_single_supplier_dependent
    from concentration

)

select * from final
