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

{#- When a Salesforce record's state, kept by a history model, was seen first: `changed_at` is the record's
    LastModifiedDate at that run (the change happened at or before it), kept as seen so that a later edit of the
    record does not move it; observed_at is the run's time. -#}
{% macro first_seen_times(record, changed_at) -%}
    {{ record }}.last_modified_at as {{ changed_at }},
    {{ observed_at() }} as observed_at
{%- endmacro %}
