{#
    The partition window of an incremental run: the day range of the run, as vars `min_date`
    and `max_date` (YYYY-MM-DD; `max_date` defaults to `min_date`) or, as the nightly passes
    it, the environment variables TRADEWINDS_DBT_MIN_DATE / TRADEWINDS_DBT_MAX_DATE (a var
    that changes every night would make dbt re-parse the whole project every night; a changed
    environment variable re-parses only the files that read it while being parsed). Without a
    window a build is a full rebuild (`window_full_refresh()`), so a plain `dbt build` always
    recomputes everything from the raw tables.

    The days are read only when a model runs (`is_incremental()` is false while parsing), never
    while parsing: the models' configs learn that there is a window from
    TRADEWINDS_DBT_WINDOWED (the nightly sets it to 1 with the days), which stays the same from
    one night to the next, so a new night re-parses nothing.
#}

{% macro partition_window() -%}
    {#- The vars default to null in dbt_project.yml: the environment fills them in. -#}
    {%- set min_date = var('min_date', none) or env_var('TRADEWINDS_DBT_MIN_DATE', '') -%}
    {%- set max_date = var('max_date', none) or env_var('TRADEWINDS_DBT_MAX_DATE', '') -%}
    {%- if min_date in (none, '') -%}
        {%- if env_var('TRADEWINDS_DBT_WINDOWED', '') -%}
            {{ exceptions.raise_compiler_error("TRADEWINDS_DBT_WINDOWED is set without TRADEWINDS_DBT_MIN_DATE: set both, or neither for a full build") }}
        {%- endif -%}
        {%- if max_date not in (none, '') -%}
            {{ exceptions.raise_compiler_error("var max_date is set without min_date: pass both (YYYY-MM-DD)") }}
        {%- endif -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if max_date in (none, '') -%}
        {%- set max_date = min_date -%}
    {%- endif -%}
    {%- if (max_date | string) < (min_date | string) -%}
        {{ exceptions.raise_compiler_error("var max_date " ~ max_date ~ " is before min_date " ~ min_date) }}
    {%- endif -%}
    {{ return({'min_date': min_date | string, 'max_date': max_date | string}) }}
{%- endmacro %}

{#
    Config value for `full_refresh`: true (always rebuild) without a window, else none (dbt
    decides). Read while parsing: TRADEWINDS_DBT_WINDOWED answers without the days.
#}
{% macro window_full_refresh() -%}
    {%- if var('min_date', none) or env_var('TRADEWINDS_DBT_WINDOWED', '') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(none if partition_window() else true) }}
{%- endmacro %}

{#
    Predicate on `date_column` selecting the rows of the window in an incremental run,
    widened by `lookback_days` before min_date for sources that restate their last days
    (tickets); `true` in a full build.
#}
{% macro window_predicate(date_column, lookback_days=0) -%}
    {#- is_incremental() first: false while parsing, when the days must not be read -#}
    {%- set window = partition_window() if is_incremental() else none -%}
    {%- if window -%}
        {{ date_column }} between {{ days_before("cast('" ~ window.min_date ~ "' as date)", lookback_days) }}
        and cast('{{ window.max_date }}' as date)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    Pre-hook of the incremental facts: in an incremental run, delete the target rows of the
    window first, so rows that disappeared from a reloaded raw partition disappear here too
    (delete+insert on the unique key alone would keep them).
#}
{% macro delete_window(date_column, lookback_days=0) -%}
    {#- Spark overwrites the window's partitions instead (incremental_facts_strategy). -#}
    {%- if is_incremental() and partition_window() and target.type != 'spark' -%}
        delete from {{ this }} where {{ window_predicate(date_column, lookback_days) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#
    The config of a day-grain incremental model: `date_column` is its day, `unique_key` its key.
    delete+insert (DuckDB) or partition overwrite (Spark) of the run's window, the window's rows
    deleted first; a build without a window rebuilds the table (`window_full_refresh()`); its
    data tests look at the window's days (`meta.test_window_column`, macros/get_where_subquery.sql).
    Use: {{ config(**incremental_by_day('order_date', 'order_line_id')) }}
#}
{% macro incremental_by_day(date_column, unique_key) -%}
    {{ return({
        'materialized': 'incremental',
        'unique_key': unique_key,
        'incremental_strategy': incremental_facts_strategy(),
        'partition_by': incremental_facts_partition_by(date_column),
        'on_schema_change': 'fail',
        'full_refresh': window_full_refresh(),
        'pre_hook': "{{ delete_window('" ~ date_column ~ "') }}",
        'meta': {'test_window_column': date_column},
    }) }}
{%- endmacro %}
