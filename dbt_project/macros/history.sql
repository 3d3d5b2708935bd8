{#- For an incremental history model (one row each time a run sees a value change): the last row it keeps per
    key, with the given columns, read from {{ this }} by observed_at. -#}
{% macro last_kept(key, columns) -%}
    select {{ key }}, {{ columns | join(', ') }}
    from (
        select
            {{ key }},
            {{ columns | join(', ') }},
            row_number() over (partition by {{ key }} order by observed_at desc) as recency
        from {{ this }}
    ) as kept
    where recency = 1
{%- endmacro %}
