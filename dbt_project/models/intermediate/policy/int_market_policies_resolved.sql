-- Tax and carbon parameters of every market as of the as-of date (as-of joins on the
-- business-time spans of the policy snapshots): standard and reduced VAT/GST rate,
-- digital-services tax, duty and VAT de-minimis thresholds (as published and in USD at the
-- FX of the as-of date) and the carbon price (scheme var `cbam_carbon_scheme`, latest on
-- or before the as-of date) in USD per tonne. Import VAT is charged wherever a VAT/GST
-- rate is known. Customs valuation (CIF/FOB) and CBAM applicability come from the markets
-- seed.

with

markets as (

    select * from {{ ref('markets') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_spanned') }}

),

vat_rates as (

    select * from {{ ref('int_vat_rates_versioned') }}

),

digital_services_taxes as (

    select * from {{ ref('int_digital_services_taxes_versioned') }}

),

de_minimis as (

    select * from {{ ref('int_de_minimis_thresholds_versioned') }}

),

carbon_prices as (

    select * from {{ ref('stg_carbon__carbon_prices') }}

),

vat_current as (

    select
        vat_rates.country_code,
        vat_rates.standard_rate_pct as vat_rate_pct,
        vat_rates.reduced_rate_pct as reduced_vat_rate_pct
    from vat_rates
    cross join as_of
    where
        vat_rates.valid_from <= as_of.as_of_date
        and (vat_rates.valid_to is null or as_of.as_of_date < vat_rates.valid_to)

),

dst_current as (

    select
        digital_services_taxes.country_code,
        digital_services_taxes.dst_rate_pct
    from digital_services_taxes
    cross join as_of
    where
        digital_services_taxes.valid_from <= as_of.as_of_date
        and (digital_services_taxes.valid_to is null or as_of.as_of_date < digital_services_taxes.valid_to)

),

de_minimis_current as (

    select
        de_minimis.country_code,
        max(case when de_minimis.applies_to = 'duty' then de_minimis.threshold_amount_local end)
            as duty_de_minimis_local,
        max(case when de_minimis.applies_to = 'duty' then de_minimis.currency end) as duty_de_minimis_currency,
        max(
            case
                when de_minimis.applies_to = 'duty'
                    then de_minimis.threshold_amount_local / fx_rates.units_per_usd
            end
        ) as duty_de_minimis_usd,
        max(case when de_minimis.applies_to = 'vat' then de_minimis.threshold_amount_local end)
            as vat_de_minimis_local,
        max(case when de_minimis.applies_to = 'vat' then de_minimis.currency end) as vat_de_minimis_currency,
        max(
            case
                when de_minimis.applies_to = 'vat'
                    then de_minimis.threshold_amount_local / fx_rates.units_per_usd
            end
        ) as vat_de_minimis_usd
    from de_minimis
    cross join as_of
    left join fx_rates
        on
            de_minimis.currency = fx_rates.currency
            and as_of.as_of_date >= fx_rates.valid_from
            and (fx_rates.valid_to is null or as_of.as_of_date < fx_rates.valid_to)
    where
        de_minimis.valid_from <= as_of.as_of_date
        and (de_minimis.valid_to is null or as_of.as_of_date < de_minimis.valid_to)
    group by de_minimis.country_code

),

carbon_price_ranked as (

    select
        carbon_prices.price_per_tonne_local / fx_rates.units_per_usd as carbon_price_usd_per_tonne,
        carbon_prices.price_date,
        row_number() over (order by carbon_prices.price_date desc) as recency_rank
    from carbon_prices
    cross join as_of
    left join fx_rates
        on
            carbon_prices.currency = fx_rates.currency
            and carbon_prices.price_date >= fx_rates.valid_from
            and (fx_rates.valid_to is null or carbon_prices.price_date < fx_rates.valid_to)
    where
        carbon_prices.price_date <= as_of.as_of_date
        and upper(replace(replace(carbon_prices.scheme, ' ', '_'), '-', '_'))
        = upper('{{ var("cbam_carbon_scheme", "EU_ETS") }}')

),

carbon_price_current as (

    select
        carbon_price_usd_per_tonne,
        price_date as carbon_price_date
    from carbon_price_ranked
    where recency_rank = 1

),

final as (

    select
        markets.country_code as destination_country,
        as_of.as_of_date,
        markets.currency,
        markets.language,
        markets.voltage_class,
        markets.plug_types,
        markets.customs_valuation,
        coalesce(vat_current.vat_rate_pct, 0) as vat_rate_pct,
        vat_current.reduced_vat_rate_pct,
        coalesce(dst_current.dst_rate_pct, 0) as dst_rate_pct,
        de_minimis_current.duty_de_minimis_local,
        de_minimis_current.duty_de_minimis_currency,
        de_minimis_current.duty_de_minimis_usd,
        de_minimis_current.vat_de_minimis_local,
        de_minimis_current.vat_de_minimis_currency,
        de_minimis_current.vat_de_minimis_usd,
        carbon_price_current.carbon_price_usd_per_tonne,
        carbon_price_current.carbon_price_date,
        markets.prices_include_vat,
        coalesce(vat_current.vat_rate_pct, 0) > 0 as import_vat_applies,
        markets.is_eu,
        markets.cbam_applies
    from markets
    cross join as_of
    left join vat_current
        on markets.country_code = vat_current.country_code
    left join dst_current
        on markets.country_code = dst_current.country_code
    left join de_minimis_current
        on markets.country_code = de_minimis_current.country_code
    left join carbon_price_current
        on 1 = 1

)

select * from final
