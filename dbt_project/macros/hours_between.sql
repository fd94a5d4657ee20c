{#
    Elapsed hours between two timestamps as a float, via the portable dbt.datediff in
    seconds (NULL when either side is NULL).
#}
{% macro hours_between(start_timestamp, end_timestamp) -%}
    ({{ dbt.datediff(start_timestamp, end_timestamp, 'second') }} / 3600.0)
{%- endmacro %}
