{#
    What a generic data test reads from the model it tests (dbt calls this for the `model`
    argument of every generic test). dbt's own version applies the test's `where` config; this
    one also narrows the test to the run's days on a model that names its day column in
    `meta.test_window_column` (the day-grain incremental models through `incremental_by_day`,
    the large day-grain staging views in their .yml), when the build has a partition window
    (`partition_window()`). A one-day night then tests the day it rewrote instead of the whole
    history: the other days were tested on the nights that wrote them.

    A uniqueness test stays whole-table unless the day column is part of the tested key:
    a duplicate of a key that holds the day can only sit on the same day, but any other key
    can repeat across days (`order_line_id` on two days is a duplicate a one-day test would
    miss). A build without a window (a plain `dbt build`) tests every row.
#}

{#
    Everything is inline, without calls to other project macros: dbt compiles a generic test
    with only the macros its node recorded at parse time (and theirs), and a state partially
    parsed before this file existed records none of ours (partition_window.sql reads the window
    the same way).
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set predicates = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do predicates.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {#- Not while parsing: reading the window's environment variables then would tie every test
        to them, and a new day would re-parse all the tests (partial parsing tracks env_var). -#}
    {%- if execute -%}
        {%- set min_date = var('min_date', none) or env_var('TRADEWINDS_DBT_MIN_DATE', '') -%}
        {%- set max_date = var('max_date', none) or env_var('TRADEWINDS_DBT_MAX_DATE', '') or min_date -%}
        {%- set tested = graph.nodes.get(model.get('attached_node') or '') or {} -%}
        {%- set meta = (tested.get('config') or {}).get('meta') or tested.get('meta') or {} -%}
        {%- set column = meta.get('test_window_column') -%}
        {%- set test = model.get('test_metadata') or {} -%}
        {%- set kwargs = test.get('kwargs') or {} -%}
        {%- set key_without_day = (
            (test.get('name') == 'unique' and kwargs.get('column_name') != column)
            or (test.get('name') == 'unique_combination_of_columns'
                and column not in (kwargs.get('combination_of_columns') or []))
        ) -%}
        {%- if min_date and column and not key_without_day -%}
            {%- do predicates.append(
                column ~ " between cast('" ~ min_date ~ "' as date) and cast('" ~ max_date ~ "' as date)"
            ) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if predicates -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ predicates | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
