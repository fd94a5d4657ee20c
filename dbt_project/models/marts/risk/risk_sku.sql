-- Combined risk per SKU x destination market of the selection universe, as of the as-of
-- date. Five component scores on 0..100 (NULL when there is nothing to score):
--   freight   risk tier of the latest rate week (on or before the as-of date) of the
--             lanes serving the pair at its cheapest mode from the lane's origin country:
--             high 100, medium 50, low 0 (worst lane)
--   transit   share of the pair's shipments delayed (shipment_transit.is_delayed) among
--             those arrived in the last 90 days or still under way
--   policy    a regulatory event touching the pair takes effect within 30 days: 100,
--             within 90 days: 60, else 0
--   supplier  half the category's HHI / 100 plus half the supplier country's tier (high
--             100, medium 50, low 0)
--   stock     1 - days of cover incl. inbound / replenishment lead time, as 0..100 (0 when
--             the pair did not sell in 28 days; NULL without an inventory position)
-- risk_score = sum(weight x score) / sum(weights) over the scored components, weights from
-- the vars risk_weight_*; risk_tier high at or above var risk_tier_high_score, medium at
-- or above var risk_tier_medium_score, else low.

{%- set weights = {
    'freight': var('risk_weight_freight', 0.25),
    'transit': var('risk_weight_transit', 0.20),
    'policy': var('risk_weight_policy', 0.20),
    'supplier': var('risk_weight_supplier', 0.20),
    'stock': var('risk_weight_stock', 0.15),
} %}

with

pairs as (

    select
        sku,
        destination_country,
        category,
        supplier_id,
        as_of_date,
        cheapest_mode,
        cheapest_mode_origin_country,
        revenue_90d_usd
    from {{ ref('int_sku_markets_assembled') }}

),

lane_weeks as (

    select * from {{ ref('risk_lane_weekly') }}

),

shipments as (

    select * from {{ ref('shipment_transit') }}

),

positions as (

    select * from {{ ref('inventory_position') }}

),

suppliers as (

    select * from {{ ref('risk_supplier_concentration') }}

),

exposure as (

    select * from {{ ref('int_policy_events_exposed') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_resolved') }}

),

latest_lane_weeks as (

    select
        lane_weeks.origin_country,
        lane_weeks.destination_country,
        lane_weeks.mode,
        lane_weeks.risk_tier,
        lane_weeks.is_spike,
        row_number() over (
            partition by lane_weeks.lane_id, lane_weeks.mode
            order by lane_weeks.rate_week desc
        ) as recency_rank
    from lane_weeks
    inner join as_of
        on lane_weeks.rate_week <= as_of.as_of_date

),

freight as (

    select
        pairs.sku,
        pairs.destination_country,
        max(
            case latest_lane_weeks.risk_tier
                when 'high' then 100
                when 'medium' then 50
                else 0
            end
        ) as freight_risk_score,
        max(case when latest_lane_weeks.is_spike then 1 else 0 end) = 1 as is_lane_spiking
    from pairs
    inner join latest_lane_weeks
        on
            pairs.cheapest_mode_origin_country = latest_lane_weeks.origin_country
            and pairs.destination_country = latest_lane_weeks.destination_country
            and pairs.cheapest_mode = latest_lane_weeks.mode
            and latest_lane_weeks.recency_rank = 1
    group by
        pairs.sku,
        pairs.destination_country

),

transit as (

    select
        pairs.sku,
        pairs.destination_country,
        count(*) as recent_shipments,
        sum(case when shipments.is_delayed then 1 else 0 end) as delayed_shipments
    from pairs
    inner join shipments
        on
            pairs.sku = shipments.sku
            and pairs.destination_country = shipments.destination_country
            and (
                shipments.arrived_at is null
                or cast(shipments.arrived_at as date) > {{ days_before('pairs.as_of_date', 90) }}
            )
    group by
        pairs.sku,
        pairs.destination_country

),

policy as (

    select
        sku,
        destination_country,
        min(effective_on) as next_event_on
    from exposure
    where is_upcoming
    group by
        sku,
        destination_country

),

scored as (

    select
        pairs.sku,
        pairs.destination_country,
        pairs.category,
        pairs.supplier_id,
        pairs.as_of_date,
        pairs.cheapest_mode,
        pairs.revenue_90d_usd,
        freight.freight_risk_score,
        coalesce(freight.is_lane_spiking, false) as is_lane_spiking,
        transit.recent_shipments,
        transit.delayed_shipments,
        100.0 * {{ safe_divide('transit.delayed_shipments', 'transit.recent_shipments') }} as transit_risk_score,
        policy.next_event_on,
        case
            when {{ dbt.datediff('pairs.as_of_date', 'policy.next_event_on', 'day') }} <= 30 then 100.0
            when {{ dbt.datediff('pairs.as_of_date', 'policy.next_event_on', 'day') }} <= 90 then 60.0
            else 0.0
        end as policy_risk_score,
        suppliers.category_hhi,
        suppliers.supplier_country_risk_tier,
        0.5 * suppliers.category_hhi / 100.0
        + 0.5 * case suppliers.supplier_country_risk_tier
            when 'high' then 100
            when 'medium' then 50
            else 0
        end as supplier_risk_score,
        positions.days_of_cover_incl_inbound,
        positions.replenishment_lead_time_days,
        case
            when positions.sku is null then null
            when positions.avg_daily_units_28d = 0 then 0.0
            else {{ linear_score(
                'positions.days_of_cover_incl_inbound / nullif(positions.replenishment_lead_time_days, 0)', 1, 0
            ) }}
        end as stock_risk_score
    from pairs
    left join freight
        on
            pairs.sku = freight.sku
            and pairs.destination_country = freight.destination_country
    left join transit
        on
            pairs.sku = transit.sku
            and pairs.destination_country = transit.destination_country
    left join policy
        on
            pairs.sku = policy.sku
            and pairs.destination_country = policy.destination_country
    left join suppliers
        on
            pairs.category = suppliers.category
            and pairs.supplier_id = suppliers.supplier_id
    left join positions
        on
            pairs.sku = positions.sku
            and pairs.destination_country = positions.destination_country

),

combined as (

    select
        *,
        (
            {%- for name, weight in weights.items() %}
                coalesce({{ weight }} * {{ name }}_risk_score, 0){{ ' +' if not loop.last }}
            {%- endfor %}
        )
        / nullif(
            {%- for name, weight in weights.items() %}
                case when {{ name }}_risk_score is null then 0 else {{ weight }} end{{ ' +' if not loop.last }}
            {%- endfor %},
            0
        ) as risk_score
    from scored

),

final as (

    select
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        as_of_date,
        cast(cheapest_mode as {{ dbt.type_string() }}) as cheapest_mode,
        cast(round(revenue_90d_usd, 4) as {{ type_double() }}) as revenue_90d_usd,
        cast(round(freight_risk_score, 4) as {{ type_double() }}) as freight_risk_score,
        cast(round(transit_risk_score, 4) as {{ type_double() }}) as transit_risk_score,
        cast(round(policy_risk_score, 4) as {{ type_double() }}) as policy_risk_score,
        cast(round(supplier_risk_score, 4) as {{ type_double() }}) as supplier_risk_score,
        cast(round(stock_risk_score, 4) as {{ type_double() }}) as stock_risk_score,
        cast(round(risk_score, 2) as {{ type_double() }}) as risk_score,
        cast(
            case
                when risk_score >= {{ var('risk_tier_high_score', 60) }} then 'high'
                when risk_score >= {{ var('risk_tier_medium_score', 30) }} then 'medium'
                else 'low'
            end as {{ dbt.type_string() }}
        ) as risk_tier,
        cast(
            case greatest(
                {%- for name, weight in weights.items() %}
                    coalesce({{ weight }} * {{ name }}_risk_score, 0){{ ',' if not loop.last }}
                {%- endfor %}
            )
                when 0 then null
                {%- for name, weight in weights.items() %}
                    when coalesce({{ weight }} * {{ name }}_risk_score, 0) then '{{ name }}'
                {%- endfor %}
            end as {{ dbt.type_string() }}
        ) as top_risk_component,
        is_lane_spiking,
        cast(recent_shipments as {{ dbt.type_bigint() }}) as recent_shipments,
        cast(delayed_shipments as {{ dbt.type_bigint() }}) as delayed_shipments,
        next_event_on as next_policy_event_on,
        cast(round(category_hhi, 2) as {{ type_double() }}) as category_hhi,
        cast(supplier_country_risk_tier as {{ dbt.type_string() }}) as supplier_country_risk_tier,
        cast(days_of_cover_incl_inbound as {{ type_double() }}) as days_of_cover_incl_inbound,
        cast(replenishment_lead_time_days as integer) as replenishment_lead_time_days
    from combined

)

select * from final
