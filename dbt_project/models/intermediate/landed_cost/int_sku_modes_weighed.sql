-- Chargeable weight of one unit of every SKU in every transport mode:
-- max(actual kg, volumetric kg) with volumetric kg = length x width x height (cm3) /
-- the mode's volumetric divisor (transport_modes seed). Without dimensions the actual
-- weight is charged. Also the mode's emission factor (kg CO2e per tonne-km): the
-- preferred BEIS/DEFRA activity when it is loaded, else the seed's default.

with

catalog as (

    select
        sku,
        weight_kg,
        length_cm,
        width_cm,
        height_cm
    from {{ ref('stg_platform__catalog') }}

),

transport_modes as (

    select * from {{ ref('transport_modes') }}

),

emission_factors as (

    select
        activity_id,
        kg_co2e_per_unit
    from {{ ref('stg_carbon__emission_factors') }}
    where activity_unit = 'tonne-km'

),

weighed as (

    select
        catalog.sku,
        transport_modes.mode,
        transport_modes.rate_unit,
        catalog.weight_kg,
        catalog.length_cm * catalog.width_cm * catalog.height_cm as volume_cm3,
        catalog.length_cm * catalog.width_cm * catalog.height_cm
        / transport_modes.volumetric_divisor_cm3_per_kg as volumetric_kg,
        transport_modes.kg_per_rate_unit,
        transport_modes.de_minimis_eligible,
        coalesce(emission_factors.kg_co2e_per_unit, transport_modes.default_kg_co2e_per_tonne_km)
            as kg_co2e_per_tonne_km
    from catalog
    cross join transport_modes
    left join emission_factors
        on transport_modes.emission_activity_id = emission_factors.activity_id

),

final as (

    select
        sku,
        mode,
        rate_unit,
        weight_kg,
        volume_cm3,
        round(volumetric_kg, 6) as volumetric_kg,
        round(
            case
                when volumetric_kg > weight_kg then volumetric_kg
                else weight_kg
            end,
            6
        ) as chargeable_kg,
        kg_per_rate_unit,
        kg_co2e_per_tonne_km,
        coalesce(de_minimis_eligible, false) as is_de_minimis_eligible
    from weighed

)

select * from final
