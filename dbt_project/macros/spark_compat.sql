{#
    Spark (dbt-spark, plain Parquet tables) versions of adapter macros the project relies on.
    dbt looks for `spark__*` implementations in the root project before the adapter's own,
    so these replace dbt-spark's where it falls short for this project. Nothing here runs on
    DuckDB.
#}

{#
    Seeds: dbt-spark's session method formats the bindings of the seed INSERT itself,
    without escaping quotes and with Python's None as the string 'None' (service_topics has
    both). Here every value is written as an escaped SQL literal (NULL for an empty cell),
    which works with every connection method.
#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ spark_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %},{% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor -%}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}

{% macro spark_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true -%}
        true
    {%- elif value is sameas false -%}
        false
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

{#
    Contracts: dbt-spark enforces `not_null` constraints with ALTER TABLE ... SET NOT NULL,
    which only Delta tables support (on other formats it enforces nothing). On Parquet the
    constraint is checked instead: the build fails if a not-null column of the new table holds
    a NULL, as DuckDB's NOT NULL would.
#}
{% macro spark__persist_constraints(relation, model) %}
    {%- set contract_config = config.get('contract') -%}
    {%- if not contract_config.enforced -%}
        {{ return('') }}
    {%- endif -%}
    {%- if config.get('file_format', 'delta') == 'delta' -%}
        {%- do alter_table_add_constraints(relation, model.constraints) -%}
        {%- do alter_column_set_constraints(relation, model.columns) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set not_null = [] -%}
    {%- for name, column in model.columns.items() -%}
        {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list | length > 0 -%}
            {%- do not_null.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for constraint in model.constraints if constraint.type == 'primary_key' -%}
        {%- for name in constraint.columns if name not in not_null -%}
            {%- do not_null.append(name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not_null -%}
        {%- set query -%}
            select
            {%- for name in not_null %}
                sum(case when {{ adapter.quote(name) }} is null then 1 else 0 end) as {{ adapter.quote(name) }}
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
            from {{ relation }}
        {%- endset -%}
        {%- set counts = run_query(query) -%}
        {%- set failed = [] -%}
        {%- for name in not_null -%}
            {%- set nulls = counts.columns[loop.index0].values()[0] or 0 -%}
            {%- if nulls > 0 -%}
                {%- do failed.append(name ~ ' (' ~ nulls ~ ' NULL rows)') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if failed -%}
            {{ exceptions.raise_compiler_error('Contract of ' ~ relation ~ ': not-null column(s) hold NULLs: ' ~ (failed | join(', '))) }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#
    Incremental facts. DuckDB: delete+insert on the unique key, after the pre-hook
    delete_window() removed the window's old rows. Spark (Parquet has no DELETE or MERGE):
    insert_overwrite of the day partitions the window's rows fall in (dynamic partition
    overwrite), so the pre-hook does nothing there.
#}
{% macro incremental_facts_strategy() -%}
    {{ return(adapter.dispatch('incremental_facts_strategy', 'tradewinds')()) }}
{%- endmacro %}

{% macro default__incremental_facts_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__incremental_facts_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{% macro incremental_facts_partition_by(date_column) -%}
    {{ return(adapter.dispatch('incremental_facts_partition_by', 'tradewinds')(date_column)) }}
{%- endmacro %}

{% macro default__incremental_facts_partition_by(date_column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__incremental_facts_partition_by(date_column) -%}
    {{ return([date_column]) }}
{%- endmacro %}
