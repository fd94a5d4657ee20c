{#
    The date `days` days before `date_expression`, as a DATE (dbt.dateadd returns a
    timestamp on some adapters, DuckDB included).
#}
{% macro days_before(date_expression, days) -%}
    cast({{ dbt.dateadd('day', -1 * days, date_expression) }} as date)
{%- endmacro %}
