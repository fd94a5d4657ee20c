{#
    Continuous (interpolated) percentile of `expression` as an aggregate, NULLs ignored.
    The default is the SQL-standard ordered-set aggregate, which DuckDB, Postgres,
    Snowflake and Redshift accept; DuckDB's own spelling would be quantile_cont(x, p).
    Spark/Databricks use percentile(x, p) and Trino approx_percentile(x, p).
#}
{% macro percentile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'tradewinds')(expression, fraction)) }}
{%- endmacro %}

{% macro default__percentile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro spark__percentile_cont(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro trino__percentile_cont(expression, fraction) -%}
    approx_percentile({{ expression }}, {{ fraction }})
{%- endmacro %}
