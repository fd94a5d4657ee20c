-- The one as-of date of the selection and landed-cost models: the `as_of_date` var when
-- given (YYYY-MM-DD), else the latest order date in the data. Always exactly one row
-- (an aggregate without GROUP BY), NULL only when there are no orders and no var.

{%- set as_of_var = var('as_of_date', none) %}

with

orders as (

    select order_date from {{ ref('stg_platform__orders') }}

),

resolved as (

    select
        {% if as_of_var -%}
            coalesce(cast('{{ as_of_var }}' as date), max(order_date)) as as_of_date
        {%- else -%}
            max(order_date) as as_of_date
        {%- endif %}
    from orders

)

select * from resolved
