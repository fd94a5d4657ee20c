{#
    What a generic data test reads from the model it tests (dbt calls this for the `model`
    argument of every generic test). dbt's own version applies the test's `where` config; this
    one also narrows the test to the run's days on a model that names its day column in
    `meta.test_window_column` (the day-grain incremental models through `incremental_by_day`,
    the large day-grain staging views in their .yml), when the build has a partition window
    (`partition_window()`). A one-day night then tests the day it rewrote instead of the whole
    history: the other days were tested on the nights that wrote them.

    A uniqueness test of a key that holds the day reads the window's days too: a duplicate
    of such a key can only sit on the same day. Any other key can repeat across days
    (`order_line_id` on two days is a duplicate a one-day test would miss), so a `unique`
    test of it reads the rows of every day whose key is one of the window's keys: a new row
    repeating an old key fails the night it arrives, and the night's test costs a lookup of
    the window's keys instead of grouping the whole history (a duplicate between two days
    outside the window was reported the night the later one was written, as for every other
    windowed test). `unique_combination_of_columns` of a key without the day stays
    whole-table. A build without a window (a plain `dbt build`) tests every row.
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
        {%- if min_date and column -%}
            {%- set days = column ~ " between cast('" ~ min_date ~ "' as date) and cast('" ~ max_date ~ "' as date)" -%}
            {%- if not key_without_day -%}
                {%- do predicates.append(days) -%}
            {%- elif test.get('name') == 'unique' and kwargs.get('column_name') -%}
                {%- set key = kwargs.get('column_name') -%}
                {%- do predicates.append(key ~ " in (select " ~ key ~ " from " ~ relation ~ " where " ~ days ~ ")") -%}
            {%- endif -%}
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
