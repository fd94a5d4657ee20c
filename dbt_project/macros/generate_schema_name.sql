{#
    Use custom schema names as-is (`staging`, `intermediate`, `marts`, `reference`)
    instead of dbt's default `<target_schema>_<custom_schema>`, so that other code
    (Dagster assets, Great Expectations, BI readers) can rely on stable names.
    Models without a custom schema land in the target schema (`main` in DuckDB).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
