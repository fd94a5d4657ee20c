{#
    Generic test: `expression` holds for every row (optionally only where `where_clause` holds).
#}
{% test expression_is_true(model, expression, where_clause=none) %}
    select *
    from {{ model }}
    where
        not ({{ expression }})
        {%- if where_clause is not none %}
            and ({{ where_clause }})
        {%- endif %}
{% endtest %}
