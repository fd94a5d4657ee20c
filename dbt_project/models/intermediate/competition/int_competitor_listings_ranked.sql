-- Competition per SKU x market of the selection universe, as of the as-of date: the
-- latest weekly competitor snapshot (on or before the as-of date, at most var
-- `competitor_snapshot_max_age_days` old) of the listing on the pair's main marketplace
-- (most revenue in the last 90 days), else of the listing with the most sellers. Prices
-- in USD at the FX rate of the snapshot date. Price position = own realised gross price
-- (last 90 days) vs the competitors' median price on that listing, in percent (+10 = 10%
-- above the median).

-- A table, not a view: int_sku_markets_assembled and the key test both read it (a view would
-- rank the competitor snapshots for each of them).
{{ config(materialized='table') }}

with

sku_markets as (

    select
        sku,
        destination_country,
        as_of_date,
        main_marketplace,
        gross_price_usd
    from {{ ref('int_sku_markets_aggregated') }}

),

competitors as (

    select * from {{ ref('stg_platform__competitors') }}

),

as_of_dates as (

    select distinct as_of_date from sku_markets

),

-- Only the FX rate spans that reach into the snapshot window (a few per currency, not the
-- ~2,000 of the whole history): the range join below then has little to compare.
fx_rates as (

    select fx_spans.*
    from {{ ref('int_fx_rates_spanned') }} as fx_spans
    inner join as_of_dates
        on
            fx_spans.valid_to is null
            or fx_spans.valid_to
            > {{ days_before('as_of_dates.as_of_date', var('competitor_snapshot_max_age_days', 14) | int) }}

),

snapshots_in_range as (

    select
        sku_markets.sku,
        sku_markets.destination_country,
        sku_markets.gross_price_usd,
        competitors.marketplace,
        competitors.snapshot_date,
        competitors.sellers_on_listing,
        competitors.competitor_median_price_local / fx_rates.units_per_usd as competitor_median_price_usd,
        competitors.competitor_review_count,
        competitors.own_review_count,
        row_number() over (
            partition by sku_markets.sku, sku_markets.destination_country
            order by
                case when competitors.marketplace = sku_markets.main_marketplace then 0 else 1 end asc,
                competitors.snapshot_date desc,
                competitors.sellers_on_listing desc,
                competitors.marketplace asc
        ) as listing_rank
    from sku_markets
    inner join competitors
        on
            sku_markets.sku = competitors.sku
            and sku_markets.destination_country = competitors.destination_country
            and sku_markets.as_of_date >= competitors.snapshot_date
            and {{ days_before('sku_markets.as_of_date', var('competitor_snapshot_max_age_days', 14) | int) }}
            < competitors.snapshot_date
    left join fx_rates
        on
            competitors.currency = fx_rates.currency
            and competitors.snapshot_date >= fx_rates.valid_from
            and (fx_rates.valid_to is null or competitors.snapshot_date < fx_rates.valid_to)

),

ranked as (

    select
        sku,
        destination_country,
        marketplace as competition_marketplace,
        snapshot_date as competition_snapshot_date,
        sellers_on_listing,
        competitor_median_price_usd,
        round(100 * ({{ safe_divide('gross_price_usd', 'competitor_median_price_usd') }} - 1), 4)
            as price_position_pct,
        competitor_review_count,
        own_review_count
    from snapshots_in_range
    where listing_rank = 1

)

select * from ranked
