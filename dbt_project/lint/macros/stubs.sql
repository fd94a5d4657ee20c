{# Lint-only renderings (DuckDB) of the adapter-dispatched project macros. Not used by dbt. #}
{% macro type_double() %}double precision{% endmacro %}
{% macro percentile_cont(expression, fraction) %}percentile_cont({{ fraction }}) within group (order by {{ expression }}){% endmacro %}
{% macro policy_history(snapshot_name, staging_model) %}{{ ref(snapshot_name) }}{% endmacro %}
{% macro incremental_facts_strategy() %}delete+insert{% endmacro %}
{% macro incremental_facts_partition_by(date_column) %}{% endmacro %}
