{#
    on-run-start: DuckDB's worker threads for the run's queries (settings duckdb.threads, which
    the nightly hands dbt as env TRADEWINDS_DUCKDB_THREADS). Not in profiles.yml's `settings`:
    DuckDB has no value meaning "its default" for `SET threads`, and the profile cannot leave a
    key out, so unset means no SET (DuckDB's default, one per core). `threads` is global to the
    database instance, which dbt-duckdb keeps open for the run (keep_open), so it holds for every
    node's cursor. Logs the value in effect either way.
#}
{% macro duckdb_threads() -%}
    {{ return(adapter.dispatch('duckdb_threads', 'tradewinds')()) }}
{%- endmacro %}

{% macro default__duckdb_threads() -%}
{%- endmacro %}

{% macro duckdb__duckdb_threads() -%}
    {%- if execute -%}
        {%- set wanted = env_var('TRADEWINDS_DUCKDB_THREADS', '') | trim -%}
        {%- if wanted -%}
            {%- if not wanted.isdigit() or wanted | int < 1 -%}
                {{ exceptions.raise_compiler_error(
                    "TRADEWINDS_DUCKDB_THREADS (settings duckdb.threads) must be a whole number of at least 1, got '"
                    ~ wanted ~ "': set it to the DuckDB worker threads wanted, or unset it for DuckDB's default") }}
            {%- endif -%}
            {%- do run_query('set threads = ' ~ (wanted | int)) -%}
        {%- endif -%}
        {%- set in_effect = run_query("select current_setting('threads') as threads").columns[0].values()[0] -%}
        {%- do log('DuckDB threads: ' ~ in_effect ~ (' (duckdb.threads)' if wanted else " (DuckDB's default)"), info=true) -%}
    {%- endif -%}
{%- endmacro %}
