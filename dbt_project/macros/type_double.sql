{#
    An 8-byte floating-point type. `dbt.type_float()` renders `float`, which is a 4-byte
    REAL in DuckDB, so the project uses this instead. `double precision` is standard SQL
    (DuckDB, Postgres, Redshift, Snowflake); adapters that spell it differently can add
    an `<adapter>__type_double` override.
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'tradewinds')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{% macro trino__type_double() -%}
    double
{%- endmacro %}
