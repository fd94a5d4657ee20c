{#
    Floating-point division that returns NULL instead of failing (or truncating, on
    engines with integer division) when the denominator is zero or NULL.
#}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0))
{%- endmacro %}
