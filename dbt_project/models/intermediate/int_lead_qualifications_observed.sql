{{ config(materialized='incremental', on_schema_change='fail') }}
{#- First observation of each lead in a qualifying (SQL) status, kept across runs because Salesforce keeps no
    status history we extract; qualified_at dates it (first_seen_times). -#}
with qualified as (
    select salesforce_id as lead_id, lead_status, last_modified_at
    from {{ ref('int_salesforce_records_unioned') }}
    where salesforce_object = 'Lead' and not is_deleted and lead_status in {{ sql_in_list(var('sql_lead_statuses')) }}
)

select
    q.lead_id,
    q.lead_status,
    {{ first_seen_times('q', 'qualified_at') }}
from qualified as q
{% if is_incremental() %}
where not exists (select 1 from {{ this }} as kept where kept.lead_id = q.lead_id)
{% endif %}
