-- Listing traffic per SKU x destination market x day (all marketplaces of the market
-- summed), with the add-to-cart and conversion rates as fractions (0..1) and the demand
-- surge signal of the stock-out alert: a day surges when its add-to-cart rate is above
-- var add_to_cart_surge_rate; surge_streak_days counts the consecutive calendar days up to
-- this one that surged (a day without traffic breaks the streak); is_demand_surge when the
-- streak reaches var add_to_cart_surge_days.
-- Incremental (delete+insert on sku x market x day): in a run with a partition window only
-- the window's days are recomputed; a streak running into the window continues from the
-- surge_streak_days of the day before it, read from this table.

{{ config(**incremental_by_day('traffic_date', ['sku', 'destination_country', 'traffic_date'])) }}

{%- set window = partition_window() if is_incremental() else none %}
{%- set day_before_window = (
    days_before("cast('" ~ window.min_date ~ "' as date)", 1) if window else "cast(null as date)"
) %}

with

traffic as (

    select * from {{ ref('int_traffic_days_aggregated') }}
    where {{ window_predicate('traffic_date') }}

),

rated as (

    select
        *,
        {{ safe_divide('add_to_cart_sessions', 'sessions') }} as add_to_cart_rate,
        {{ safe_divide('ordered_sessions', 'sessions') }} as conversion_rate,
        coalesce(
            {{ safe_divide('add_to_cart_sessions', 'sessions') }} > {{ var('add_to_cart_surge_rate', 0.40) }}, false
        ) as is_add_to_cart_surge
    from traffic

),

surge_islands as (

    select
        sku,
        destination_country,
        traffic_date,
        cast({{ dbt.dateadd(
            'day',
            '-1 * row_number() over (partition by sku, destination_country order by traffic_date)',
            'traffic_date'
        ) }} as date) as island_start
    from rated
    where is_add_to_cart_surge

),

carried as (

    -- the streak of the day before the window (none in a full build)
    {%- if window %}
        select
            sku,
            destination_country,
            surge_streak_days as carried_streak_days
        from {{ this }}
        where traffic_date = {{ day_before_window }}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as sku,
            cast(null as {{ dbt.type_string() }}) as destination_country,
            cast(null as {{ dbt.type_bigint() }}) as carried_streak_days
        where false
    {%- endif %}

),

island_days as (

    select
        sku,
        destination_country,
        traffic_date,
        island_start,
        row_number() over (
            partition by sku, destination_country, island_start
            order by traffic_date
        ) as island_day
    from surge_islands

),

streaks as (

    select
        island_days.sku,
        island_days.destination_country,
        island_days.traffic_date,
        -- an island starting on the window's first day continues the streak of the day before
        island_days.island_day
        + case
            when island_days.island_start = {{ day_before_window }}
                then coalesce(carried.carried_streak_days, 0)
            else 0
        end as surge_streak_days
    from island_days
    left join carried
        on
            island_days.sku = carried.sku
            and island_days.destination_country = carried.destination_country

),

final as (

    select
        cast(rated.sku as {{ dbt.type_string() }}) as sku,
        cast(rated.destination_country as {{ dbt.type_string() }}) as destination_country,
        rated.traffic_date,
        cast(rated.listings as {{ dbt.type_bigint() }}) as listings,
        cast(rated.sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(rated.page_views as {{ dbt.type_bigint() }}) as page_views,
        cast(rated.add_to_cart_sessions as {{ dbt.type_bigint() }}) as add_to_cart,
        cast(rated.ordered_sessions as {{ dbt.type_bigint() }}) as ordered_sessions,
        cast(round(rated.add_to_cart_rate, 6) as {{ type_double() }}) as add_to_cart_rate,
        cast(round(rated.conversion_rate, 6) as {{ type_double() }}) as conversion_rate,
        rated.is_add_to_cart_surge,
        cast(coalesce(streaks.surge_streak_days, 0) as {{ dbt.type_bigint() }}) as surge_streak_days,
        coalesce(streaks.surge_streak_days >= {{ var('add_to_cart_surge_days', 7) }}, false) as is_demand_surge
    from rated
    left join streaks
        on
            rated.sku = streaks.sku
            and rated.destination_country = streaks.destination_country
            and rated.traffic_date = streaks.traffic_date

)

select * from final
