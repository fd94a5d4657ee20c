{#
    Generic test: every non-NULL value of the column lies within [min_value, max_value]
    (either bound optional; `inclusive: false` makes both bounds strict).
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            {%- if min_value is not none %}
                {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
            {%- else %}
                false
            {%- endif %}
            {%- if max_value is not none %}
                or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
            {%- endif %}
        )
{% endtest %}
