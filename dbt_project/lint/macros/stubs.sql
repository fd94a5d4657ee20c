{# Lint-only renderings (DuckDB) of the adapter-dispatched project macros. Not used by dbt. #}
{% macro type_double() %}double precision{% endmacro %}
{% macro percentile_cont(expression, fraction) %}percentile_cont({{ fraction }}) within group (order by {{ expression }}){% endmacro %}
