-- Order lines in USD at the reference FX rate of the order day (latest rate on or before
-- it), with the VAT included in the shelf price removed where the market shows
-- VAT-inclusive prices (standard rate valid on the order day from the VAT snapshot's
-- spans; 0 when no rate is known).
-- Incremental (delete+insert on order_line_id): with vars min_date/max_date only the order
-- days of the window are recomputed (their old rows deleted first, see delete_window);
-- without them the table is rebuilt in full.

{{ config(**incremental_by_day('order_date', 'order_line_id')) }}

with

order_lines as (

    select * from {{ ref('stg_platform__orders') }}
    where {{ window_predicate('order_date') }}

),

markets as (

    select
        country_code,
        prices_include_vat
    from {{ ref('markets') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_spanned') }}

),

vat_rates as (

    select
        country_code,
        standard_rate_pct,
        valid_from,
        valid_to
    from {{ ref('int_vat_rates_versioned') }}

),

converted as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        order_lines.sku,
        order_lines.marketplace,
        order_lines.destination_country,
        order_lines.currency,
        order_lines.quantity,
        order_lines.unit_price_local,
        fx_rates.units_per_usd,
        order_lines.unit_price_local / fx_rates.units_per_usd as unit_price_usd,
        case
            when markets.prices_include_vat then coalesce(vat_rates.standard_rate_pct, 0)
            else 0
        end as included_vat_rate_pct,
        coalesce(markets.prices_include_vat, false) as prices_include_vat,
        order_lines.order_date,
        order_lines.ordered_at
    from order_lines
    left join markets
        on order_lines.destination_country = markets.country_code
    left join fx_rates
        on
            order_lines.currency = fx_rates.currency
            and order_lines.order_date >= fx_rates.valid_from
            and (fx_rates.valid_to is null or order_lines.order_date < fx_rates.valid_to)
    left join vat_rates
        on
            order_lines.destination_country = vat_rates.country_code
            and order_lines.order_date >= vat_rates.valid_from
            and (vat_rates.valid_to is null or order_lines.order_date < vat_rates.valid_to)

),

final as (

    select
        order_line_id,
        order_id,
        sku,
        marketplace,
        destination_country,
        currency,
        quantity,
        unit_price_local,
        units_per_usd,
        unit_price_usd,
        included_vat_rate_pct,
        unit_price_usd / (1 + included_vat_rate_pct / 100.0) as net_unit_price_usd,
        quantity * unit_price_usd as revenue_usd,
        quantity * unit_price_usd / (1 + included_vat_rate_pct / 100.0) as net_revenue_usd,
        prices_include_vat,
        order_date,
        ordered_at
    from converted

)

select * from final
