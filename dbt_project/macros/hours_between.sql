{#
    Elapsed hours between two timestamps as a float, via the portable dbt.datediff in
    seconds (NULL when either side is NULL). The seconds are cast to double first: Spark
    would divide the integer by the decimal 3600.0 in decimal arithmetic (DuckDB in double).
#}
{% macro hours_between(start_timestamp, end_timestamp) -%}
    (cast({{ dbt.datediff(start_timestamp, end_timestamp, 'second') }} as {{ type_double() }}) / 3600.0)
{%- endmacro %}
