{#
    A 0..100 score that rises linearly from `worst` (0) to `best` (100) and is clamped
    outside; `worst` may be above `best` (lower is better). NULL stays NULL.
    Example: linear_score('landed_margin_pct', 0, 40) is 0 at or below a 0% margin,
    50 at 20%, 100 at 40% or more.
#}
{% macro linear_score(expression, worst, best) -%}
    {%- set position -%}
        ((cast({{ expression }} as {{ type_double() }}) - ({{ worst }})) / (({{ best }}) - ({{ worst }})))
    {%- endset -%}
    (case
        when ({{ expression }}) is null then null
        when {{ position }} >= 1 then 100.0
        when {{ position }} <= 0 then 0.0
        else 100.0 * {{ position }}
    end)
{%- endmacro %}
