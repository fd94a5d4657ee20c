-- Listing traffic per SKU x destination market x day (all marketplaces of the market
-- summed), with the add-to-cart and conversion rates as fractions (0..1) and the demand
-- surge signal of the stock-out alert: a day surges when its add-to-cart rate is above
-- var add_to_cart_surge_rate; surge_streak_days counts the consecutive calendar days up to
-- this one that surged (a day without traffic breaks the streak); is_demand_surge when the
-- streak reaches var add_to_cart_surge_days.

with

traffic as (

    select * from {{ ref('int_traffic_days_aggregated') }}

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

streaks as (

    select
        sku,
        destination_country,
        traffic_date,
        row_number() over (
            partition by sku, destination_country, island_start
            order by traffic_date
        ) as surge_streak_days
    from surge_islands

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
