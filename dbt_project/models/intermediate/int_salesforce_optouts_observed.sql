{{ config(materialized='incremental', on_schema_change='fail') }}
{#- HasOptedOutOfEmail transitions per Salesforce record, kept across runs: one row each time a run sees the box
    differ from the last state kept (never-checked records are not stored). changed_at dates the change as first
    seen (first_seen_times), so a later unrelated edit cannot make an old check look newer than an Act-On opt-in. -#}
with current_flags as (
    select salesforce_object, salesforce_id, has_opted_out_of_email as is_opted_out, last_modified_at
    from {{ ref('int_salesforce_records_unioned') }}
    where not is_deleted
)
{% if is_incremental() %},
last_kept as (
    {{ last_kept('salesforce_id', ['is_opted_out']) }}
)
{% endif %}

select
    {{ dbt.concat(["c.salesforce_id", "'|'", dbt.cast(observed_at(), dbt.type_string())]) }} as observation_id,
    c.salesforce_object,
    c.salesforce_id,
    c.is_opted_out,
    {{ first_seen_times('c', 'changed_at') }}
from current_flags as c
{% if is_incremental() %}
left join last_kept as k on k.salesforce_id = c.salesforce_id
where c.is_opted_out <> coalesce(k.is_opted_out, false)
{% else %}
where c.is_opted_out
{% endif %}
