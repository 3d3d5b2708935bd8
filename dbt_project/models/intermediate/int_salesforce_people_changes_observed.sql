{{ config(materialized='incremental', unique_key='salesforce_id', on_schema_change='fail') }}
{#- When people last changed each Lead and Contact. Which duplicate is "most recently modified" must not follow the
    sync's own writes (every score push would reorder duplicates and resend their list rows), and a write by the
    integration user hides the time of the change before it: so that time is kept across runs. -#}
with records as (
    select
        r.salesforce_id,
        r.created_at,
        r.last_modified_at,
        coalesce(r.last_modified_by_id = {{ sql_string(var('integration_user_id', '')) }}, false)
            as last_changed_by_sync
    from {{ ref('int_salesforce_records_unioned') }} as r
)

select
    r.salesforce_id,
    case
        when not r.last_changed_by_sync then r.last_modified_at
        {%- if is_incremental() %}
        else coalesce(kept.changed_by_people_at, r.created_at)
        {%- else %}
        else r.created_at
        {%- endif %}
    end as changed_by_people_at
from records as r
{%- if is_incremental() %}
left join {{ this }} as kept on kept.salesforce_id = r.salesforce_id
{%- endif %}
