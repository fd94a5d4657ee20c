{#
    on-run-start: make the `raw` sources readable on the target. On DuckDB the Dagster ingest
    assets load them into the warehouse, so there is nothing to do. On Spark they are
    external Parquet tables over the raw zone of the lake, one folder per table
    (`<root>/<table>/*.parquet`, written by `python -m orchestration.lib.spark_raw` from the
    warehouse, or by a cluster's ingest); root: env TRADEWINDS_RAW_PARQUET. Re-created on every
    run (dropping an external table leaves its files), so new files and schema changes are seen.
#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables', 'tradewinds')()) }}
{%- endmacro %}

{% macro default__register_raw_tables() -%}
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {%- if execute -%}
        {%- set root = env_var('TRADEWINDS_RAW_PARQUET', '../data/spark/raw') -%}
        {%- set schemas = [] -%}
        {%- for source in graph.sources.values() -%}
            {%- if source.schema not in schemas -%}
                {%- do run_query('create database if not exists ' ~ source.schema) -%}
                {%- do schemas.append(source.schema) -%}
            {%- endif -%}
            {%- set relation = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query("create table " ~ relation ~ " using parquet location '"
                ~ root ~ "/" ~ source.identifier ~ "'") -%}
        {%- endfor -%}
        {%- do log('register_raw_tables: ' ~ (graph.sources | length) ~ ' raw tables over ' ~ root, info=true) -%}
    {%- endif -%}
{%- endmacro %}

{#
    The SCD2 history of a policy table for the int_*_versioned models. dbt-spark snapshots
    need a table format with MERGE (delta, iceberg or hudi): with var `spark_snapshots` true
    (Databricks, or a cluster with Delta Lake) the snapshot is read as on DuckDB. On plain
    Parquet the snapshots are disabled and this is the staging table as the first snapshot
    of it would hold it (every row current, valid from when it was loaded: its knowledge time,
    which a snapshot run right after the load records too), so a build from one load gives the
    same marts; only the history across loads is not kept. Not `current_timestamp()`: a build
    reading the clock is never left out as unchanged (orchestration/defs/transform/unchanged.py),
    and that alone kept 128 of the 303 models and tests downstream in every nightly build.
#}
{% macro policy_history(snapshot_name, staging_model) -%}
    {%- if snapshots_enabled() -%}
        {{ ref(snapshot_name) }}
    {%- else -%}
        (select
            staging.*,
            cast(staging.loaded_at as timestamp) as dbt_valid_from,
            cast(null as timestamp) as dbt_valid_to
        from {{ ref(staging_model) }} as staging)
    {%- endif -%}
{%- endmacro %}

{% macro snapshots_enabled() -%}
    {{ return(target.type != 'spark' or var('spark_snapshots', false)) }}
{%- endmacro %}
