-- Landed cost of one unit per SKU x destination market x transport mode, as of the
-- as-of date, for the pairs of the selection universe. All amounts in USD, converted with
-- the reference FX rate valid on the as-of date (latest published rate on or before it);
-- tax and duty rates are those in force on the as-of date (as-of joins on the policy
-- snapshots' business-time spans). Per unit:
--   unit cost          catalog cost / FX of the cost currency
--   freight            lane rate (USD per rate unit) x chargeable kg / kg per rate unit;
--                      the lane is the latest rate from the SKU's origin country to the
--                      market in that mode, else the cheapest other origin
--   customs value      unit cost (FOB markets) or unit cost + freight (CIF markets, see
--                      markets.customs_valuation)
--   duty               ad valorem % x customs value + specific amount per kg (any 'kg...'
--                      unit: net weight) or per item, converted from its currency: a
--                      compound rate is both; the highest among the commodity codes of the
--                      SKU's HS subheading. Specific duties per litre/hl (drinks) are not
--                      modelled (0). 0 when the mode ships parcels
--                      (transport_modes.de_minimis_eligible) and the unit cost is at or
--                      under the duty de-minimis threshold
--   import VAT         VAT rate x (unit cost + freight + duty) where VAT/GST is charged,
--                      unless the mode ships parcels and the unit cost is at or under a
--                      VAT de-minimis threshold
--   fees               gross price x platform fee % x (1 + digital-services tax %)
--   carbon             where EU carbon pricing applies (markets.cbam_applies), for every
--                      carbon_levies period valid on the as-of date and the mode: emissions
--                      x priced share x carbon price per tonne / 1000; transport levies
--                      price the shipment's emissions (EU ETS maritime), embedded levies
--                      the product's (CBAM: default kg CO2e per kg of the HS prefix x kg)
-- Margin and logistics share are against the net (ex-VAT) realised price.

-- A table, not a view: several models and their tests read it (a view would recompute the
-- chain above it for each of them).
{{ config(materialized='table') }}

with

sku_markets as (

    select
        sku,
        destination_country,
        as_of_date,
        gross_price_usd,
        net_price_usd,
        platform_fee_pct
    from {{ ref('int_sku_markets_aggregated') }}

),

catalog as (

    select
        sku,
        unit_cost_local,
        cost_currency,
        hs_code,
        origin_country,
        weight_kg
    from {{ ref('stg_platform__catalog') }}

),

as_of_dates as (

    select distinct as_of_date from sku_markets

),

-- The FX rate of each currency in force on the as-of date (one row per currency and as-of
-- date): the joins below are then plain equi-joins instead of a range join of every row
-- against every rate span of its currency (~2,000 spans per currency over the history).
fx_rates as (

    select
        fx_spans.currency,
        as_of_dates.as_of_date,
        fx_spans.units_per_usd
    from {{ ref('int_fx_rates_spanned') }} as fx_spans
    inner join as_of_dates
        on
            fx_spans.valid_from <= as_of_dates.as_of_date
            and (fx_spans.valid_to is null or fx_spans.valid_to > as_of_dates.as_of_date)

),

sku_modes as (

    select
        sku,
        mode,
        rate_unit,
        chargeable_kg,
        kg_per_rate_unit,
        kg_co2e_per_tonne_km,
        is_de_minimis_eligible
    from {{ ref('int_sku_modes_weighed') }}

),

lanes as (

    select
        origin_country,
        destination_country,
        mode,
        rate_unit,
        rate_usd,
        transit_days,
        distance_km
    from {{ ref('int_freight_lanes_priced') }}

),

policies as (

    select
        destination_country,
        customs_valuation,
        vat_rate_pct,
        dst_rate_pct,
        duty_de_minimis_usd,
        vat_de_minimis_usd,
        carbon_price_usd_per_tonne,
        import_vat_applies,
        cbam_applies
    from {{ ref('int_market_policies_resolved') }}

),

duty_rates as (

    select
        destination_country,
        hs6,
        commodity_code,
        rate_text,
        ad_valorem_pct,
        specific_amount_local,
        specific_currency,
        specific_per,
        specific_unit
    from {{ ref('int_duty_rates_resolved') }}

),

cbam_scope as (

    select
        hs_prefix,
        default_kg_co2e_per_kg
    from {{ ref('stg_carbon__cbam_scope') }}

),

carbon_levies as (

    select
        applies_to,
        modes,
        valid_from,
        valid_to,
        priced_share_pct
    from {{ ref('carbon_levies') }}

),

costed as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        sku_markets.as_of_date,
        sku_markets.gross_price_usd,
        sku_markets.net_price_usd,
        sku_markets.platform_fee_pct,
        catalog.hs_code,
        catalog.origin_country,
        catalog.weight_kg,
        catalog.unit_cost_local / fx_rates.units_per_usd as unit_cost_usd
    from sku_markets
    inner join catalog
        on sku_markets.sku = catalog.sku
    left join fx_rates
        on
            catalog.cost_currency = fx_rates.currency
            and sku_markets.as_of_date = fx_rates.as_of_date

),

cbam_matches as (

    select
        catalog.sku,
        cbam_scope.default_kg_co2e_per_kg,
        row_number() over (
            partition by catalog.sku
            order by {{ dbt.length('cbam_scope.hs_prefix') }} desc
        ) as prefix_rank
    from catalog
    inner join cbam_scope
        on catalog.hs_code like cbam_scope.hs_prefix || '%'

),

cbam as (

    select
        sku,
        default_kg_co2e_per_kg
    from cbam_matches
    where prefix_rank = 1

),

lane_options as (

    select
        costed.sku,
        costed.destination_country,
        sku_modes.mode,
        lanes.origin_country as lane_origin_country,
        lanes.rate_usd,
        lanes.transit_days,
        lanes.distance_km,
        row_number() over (
            partition by costed.sku, costed.destination_country, sku_modes.mode
            order by
                case when lanes.origin_country = costed.origin_country then 0 else 1 end,
                lanes.rate_usd,
                lanes.origin_country
        ) as lane_rank
    from costed
    inner join sku_modes
        on costed.sku = sku_modes.sku
    inner join lanes
        on
            costed.destination_country = lanes.destination_country
            and sku_modes.mode = lanes.mode
            and sku_modes.rate_unit = lanes.rate_unit

),

shipped as (

    select
        costed.*,
        lane_options.mode,
        lane_options.lane_origin_country,
        lane_options.transit_days,
        sku_modes.chargeable_kg,
        sku_modes.is_de_minimis_eligible,
        lane_options.rate_usd * sku_modes.chargeable_kg / sku_modes.kg_per_rate_unit as freight_per_unit_usd,
        sku_modes.kg_co2e_per_tonne_km * costed.weight_kg / 1000.0 * lane_options.distance_km
            as shipping_kg_co2e_per_unit,
        cbam.default_kg_co2e_per_kg * costed.weight_kg as embedded_kg_co2e_per_unit,
        policies.customs_valuation,
        policies.vat_rate_pct,
        policies.dst_rate_pct,
        policies.duty_de_minimis_usd,
        policies.vat_de_minimis_usd,
        policies.carbon_price_usd_per_tonne,
        policies.import_vat_applies,
        coalesce(policies.cbam_applies, false) as cbam_applies,
        costed.unit_cost_usd
        + case
            when policies.customs_valuation = 'CIF'
                then lane_options.rate_usd * sku_modes.chargeable_kg / sku_modes.kg_per_rate_unit
            else 0
        end as customs_value_usd
    from costed
    inner join lane_options
        on
            costed.sku = lane_options.sku
            and costed.destination_country = lane_options.destination_country
            and lane_options.lane_rank = 1
    inner join sku_modes
        on
            lane_options.sku = sku_modes.sku
            and lane_options.mode = sku_modes.mode
    left join policies
        on costed.destination_country = policies.destination_country
    left join cbam
        on costed.sku = cbam.sku

),

duty_candidates as (

    select
        shipped.sku,
        shipped.destination_country,
        shipped.mode,
        duty_rates.commodity_code,
        duty_rates.rate_text,
        duty_rates.ad_valorem_pct,
        coalesce(
            case
                when duty_rates.specific_unit like 'kg%'
                    then duty_rates.specific_amount_local / fx_rates.units_per_usd
                        / coalesce(nullif(duty_rates.specific_per, 0), 1) * shipped.weight_kg
                when duty_rates.specific_unit in ('item', 'p/st', 'unit', 'piece')
                    then duty_rates.specific_amount_local / fx_rates.units_per_usd
                        / coalesce(nullif(duty_rates.specific_per, 0), 1)
            end,
            0
        ) as specific_duty_usd,
        shipped.customs_value_usd * duty_rates.ad_valorem_pct / 100.0 as ad_valorem_duty_usd
    from shipped
    inner join duty_rates
        on
            shipped.destination_country = duty_rates.destination_country
            and substring(shipped.hs_code, 1, 6) = duty_rates.hs6
    left join fx_rates
        on
            duty_rates.specific_currency = fx_rates.currency
            and shipped.as_of_date = fx_rates.as_of_date

),

duties_ranked as (

    select
        *,
        ad_valorem_duty_usd + specific_duty_usd as duty_usd,
        row_number() over (
            partition by sku, destination_country, mode
            order by ad_valorem_duty_usd + specific_duty_usd desc, commodity_code
        ) as duty_rank
    from duty_candidates

),

duties as (

    select * from duties_ranked
    where duty_rank = 1

),

levies as (

    select
        shipped.sku,
        shipped.destination_country,
        shipped.mode,
        sum(
            case
                when carbon_levies.applies_to = 'transport' then shipped.shipping_kg_co2e_per_unit
                else coalesce(shipped.embedded_kg_co2e_per_unit, 0)
            end
            * carbon_levies.priced_share_pct / 100.0
        ) as priced_kg_co2e_per_unit
    from shipped
    inner join carbon_levies
        on
            shipped.as_of_date >= carbon_levies.valid_from
            and (carbon_levies.valid_to is null or shipped.as_of_date < carbon_levies.valid_to)
            and (
                carbon_levies.modes = '*'
                or ';' || carbon_levies.modes || ';' like '%;' || shipped.mode || ';%'
            )
    where shipped.cbam_applies
    group by
        shipped.sku,
        shipped.destination_country,
        shipped.mode

),

components as (

    select
        shipped.sku,
        shipped.destination_country,
        shipped.mode,
        shipped.as_of_date,
        shipped.lane_origin_country,
        shipped.transit_days,
        shipped.chargeable_kg,
        shipped.gross_price_usd,
        shipped.net_price_usd,
        shipped.platform_fee_pct,
        shipped.customs_valuation,
        shipped.vat_rate_pct,
        shipped.dst_rate_pct,
        shipped.unit_cost_usd,
        shipped.customs_value_usd,
        shipped.freight_per_unit_usd,
        duties.commodity_code as duty_commodity_code,
        duties.rate_text as duty_rate_text,
        coalesce(duties.ad_valorem_pct, 0) as duty_ad_valorem_pct,
        coalesce(duties.specific_duty_usd, 0) as specific_duty_per_unit_usd,
        coalesce(duties.duty_usd, 0) as duty_before_de_minimis_usd,
        coalesce(shipped.is_de_minimis_eligible and shipped.unit_cost_usd <= shipped.duty_de_minimis_usd, false)
            as is_under_duty_de_minimis,
        coalesce(
            shipped.import_vat_applies
            and not coalesce(
                shipped.is_de_minimis_eligible and shipped.unit_cost_usd <= shipped.vat_de_minimis_usd, false
            ),
            false
        ) as is_import_vat_charged,
        shipped.gross_price_usd * shipped.platform_fee_pct / 100.0
        * (1 + coalesce(shipped.dst_rate_pct, 0) / 100.0) as fees_per_unit_usd,
        coalesce(levies.priced_kg_co2e_per_unit, 0) * coalesce(shipped.carbon_price_usd_per_tonne, 0) / 1000.0
            as carbon_cost_per_unit_usd,
        shipped.shipping_kg_co2e_per_unit,
        shipped.embedded_kg_co2e_per_unit,
        shipped.cbam_applies and shipped.embedded_kg_co2e_per_unit is not null as is_cbam_in_scope
    from shipped
    left join duties
        on
            shipped.sku = duties.sku
            and shipped.destination_country = duties.destination_country
            and shipped.mode = duties.mode
    left join levies
        on
            shipped.sku = levies.sku
            and shipped.destination_country = levies.destination_country
            and shipped.mode = levies.mode

),

with_duty as (

    select
        *,
        case when is_under_duty_de_minimis then 0 else duty_before_de_minimis_usd end as duty_per_unit_usd
    from components

),

with_vat as (

    select
        *,
        case
            when is_import_vat_charged
                then vat_rate_pct / 100.0 * (unit_cost_usd + freight_per_unit_usd + duty_per_unit_usd)
            else 0
        end as vat_per_unit_usd
    from with_duty

),

totalled as (

    select
        *,
        unit_cost_usd + freight_per_unit_usd + duty_per_unit_usd + vat_per_unit_usd
        + fees_per_unit_usd + carbon_cost_per_unit_usd as landed_cost_usd
    from with_vat

),

final as (

    select
        sku,
        destination_country,
        mode,
        as_of_date,
        lane_origin_country,
        transit_days,
        chargeable_kg,
        customs_valuation,
        duty_commodity_code,
        duty_rate_text,
        duty_ad_valorem_pct,
        vat_rate_pct,
        dst_rate_pct,
        platform_fee_pct,
        round(gross_price_usd, 6) as gross_price_usd,
        round(net_price_usd, 6) as net_price_usd,
        round(unit_cost_usd, 6) as unit_cost_usd,
        round(customs_value_usd, 6) as customs_value_usd,
        round(freight_per_unit_usd, 6) as freight_per_unit_usd,
        round(specific_duty_per_unit_usd, 6) as specific_duty_per_unit_usd,
        round(duty_before_de_minimis_usd, 6) as duty_before_de_minimis_usd,
        round(duty_per_unit_usd, 6) as duty_per_unit_usd,
        round(vat_per_unit_usd, 6) as vat_per_unit_usd,
        round(fees_per_unit_usd, 6) as fees_per_unit_usd,
        round(carbon_cost_per_unit_usd, 6) as carbon_cost_per_unit_usd,
        round(landed_cost_usd, 6) as landed_cost_usd,
        round(landed_cost_usd - vat_per_unit_usd, 6) as landed_cost_ex_vat_usd,
        round(100 * {{ safe_divide('net_price_usd - landed_cost_usd', 'net_price_usd') }}, 4) as landed_margin_pct,
        round(
            100 * {{ safe_divide('net_price_usd - (landed_cost_usd - vat_per_unit_usd)', 'net_price_usd') }}, 4
        ) as landed_margin_ex_vat_pct,
        round(100 * {{ safe_divide('freight_per_unit_usd', 'net_price_usd') }}, 4) as logistics_cost_share_pct,
        round(shipping_kg_co2e_per_unit, 6) as shipping_kg_co2e_per_unit,
        round(embedded_kg_co2e_per_unit, 6) as embedded_kg_co2e_per_unit,
        row_number() over (
            partition by sku, destination_country
            order by landed_cost_usd, mode
        ) = 1 as is_cheapest_mode,
        coalesce(is_cbam_in_scope, false) as is_cbam_in_scope,
        is_under_duty_de_minimis,
        is_import_vat_charged
    from totalled

)

select * from final
