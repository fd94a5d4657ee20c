-- Policy exposure per destination market as of the as-of date: the VAT/GST, DST and
-- de-minimis thresholds in force (policy snapshots), CBAM applicability and the CBAM goods
-- sold, and the regulatory events taking effect in the next 30 and 90 days (after the
-- as-of date, up to and including as-of + 30 / + 90) with the SKUs and 90-day revenue they
-- touch (distinct SKUs over those events) and their estimated 90-day margin impact.

with

policies as (

    select * from {{ ref('int_market_policies_resolved') }}

),

events as (

    select * from {{ ref('risk_policy_events') }}

),

exposure as (

    select * from {{ ref('int_policy_events_exposed') }}

),

sku_markets as (

    select * from {{ ref('int_sku_markets_assembled') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

event_counts_ranked as (

    select
        destination_country,
        effective_on,
        kind,
        days_until_effective,
        est_margin_impact_usd,
        row_number() over (partition by destination_country order by effective_on, kind, event_id) as event_rank
    from events
    where is_upcoming and days_until_effective <= 90

),

event_counts as (

    select
        destination_country,
        sum(case when days_until_effective <= 30 then 1 else 0 end) as events_next_30d,
        count(*) as events_next_90d,
        sum(est_margin_impact_usd) as est_margin_impact_next_90d_usd,
        min(case when event_rank = 1 then effective_on end) as next_event_on,
        min(case when event_rank = 1 then kind end) as next_event_kind
    from event_counts_ranked
    group by destination_country

),

touched_pairs as (

    select
        exposure.destination_country,
        exposure.sku,
        max(exposure.revenue_90d_usd) as revenue_90d_usd,
        max(case when {{ dbt.datediff('as_of.as_of_date', 'exposure.effective_on', 'day') }} <= 30 then 1 else 0 end)
            as is_touched_30d
    from exposure
    cross join as_of
    where
        exposure.is_upcoming
        and {{ dbt.datediff('as_of.as_of_date', 'exposure.effective_on', 'day') }} <= 90
    group by
        exposure.destination_country,
        exposure.sku

),

touched as (

    select
        destination_country,
        count(*) as skus_touched,
        sum(revenue_90d_usd) as revenue_90d_usd_touched,
        sum(is_touched_30d) as skus_touched_30d,
        sum(case when is_touched_30d = 1 then revenue_90d_usd else 0 end) as revenue_90d_usd_touched_30d
    from touched_pairs
    group by destination_country

),

sales as (

    select
        destination_country,
        count(*) as active_skus,
        sum(revenue_90d_usd) as revenue_90d_usd,
        sum(case when cbam_in_scope then 1 else 0 end) as cbam_skus,
        sum(case when cbam_in_scope then revenue_90d_usd else 0 end) as cbam_revenue_90d_usd
    from sku_markets
    group by destination_country

),

final as (

    select
        cast(policies.destination_country as {{ dbt.type_string() }}) as destination_country,
        policies.as_of_date,
        cast(policies.currency as {{ dbt.type_string() }}) as currency,
        cast(policies.vat_rate_pct as {{ type_double() }}) as vat_rate_pct,
        cast(policies.reduced_vat_rate_pct as {{ type_double() }}) as reduced_vat_rate_pct,
        cast(policies.dst_rate_pct as {{ type_double() }}) as dst_rate_pct,
        cast(policies.duty_de_minimis_local as {{ type_double() }}) as duty_de_minimis_local,
        cast(policies.duty_de_minimis_currency as {{ dbt.type_string() }}) as duty_de_minimis_currency,
        cast(round(policies.duty_de_minimis_usd, 4) as {{ type_double() }}) as duty_de_minimis_usd,
        cast(policies.vat_de_minimis_local as {{ type_double() }}) as vat_de_minimis_local,
        cast(policies.vat_de_minimis_currency as {{ dbt.type_string() }}) as vat_de_minimis_currency,
        cast(round(policies.vat_de_minimis_usd, 4) as {{ type_double() }}) as vat_de_minimis_usd,
        cast(policies.customs_valuation as {{ dbt.type_string() }}) as customs_valuation,
        policies.cbam_applies,
        cast(coalesce(sales.active_skus, 0) as {{ dbt.type_bigint() }}) as active_skus,
        cast(round(coalesce(sales.revenue_90d_usd, 0), 4) as {{ type_double() }}) as revenue_90d_usd,
        cast(coalesce(sales.cbam_skus, 0) as {{ dbt.type_bigint() }}) as cbam_skus,
        cast(round(coalesce(sales.cbam_revenue_90d_usd, 0), 4) as {{ type_double() }}) as cbam_revenue_90d_usd,
        cast(coalesce(event_counts.events_next_30d, 0) as {{ dbt.type_bigint() }}) as events_next_30d,
        cast(coalesce(event_counts.events_next_90d, 0) as {{ dbt.type_bigint() }}) as events_next_90d,
        event_counts.next_event_on,
        cast(event_counts.next_event_kind as {{ dbt.type_string() }}) as next_event_kind,
        cast(coalesce(touched.skus_touched, 0) as {{ dbt.type_bigint() }}) as skus_touched,
        cast(round(coalesce(touched.revenue_90d_usd_touched, 0), 4) as {{ type_double() }})
            as revenue_90d_usd_touched,
        cast(coalesce(touched.skus_touched_30d, 0) as {{ dbt.type_bigint() }}) as skus_touched_30d,
        cast(round(coalesce(touched.revenue_90d_usd_touched_30d, 0), 4) as {{ type_double() }})
            as revenue_90d_usd_touched_30d,
        cast(round(coalesce(event_counts.est_margin_impact_next_90d_usd, 0), 4) as {{ type_double() }})
            as est_margin_impact_next_90d_usd
    from policies
    left join event_counts
        on policies.destination_country = event_counts.destination_country
    left join touched
        on policies.destination_country = touched.destination_country
    left join sales
        on policies.destination_country = sales.destination_country

)

select * from final
