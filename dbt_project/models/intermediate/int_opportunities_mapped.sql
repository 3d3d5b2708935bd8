{#- Live opportunities with the fields the report mapping (sync.yaml report_mapping) names. -#}
{%- set m = var('report_mapping') -%}
select
    opportunity_id,
    opportunity_name,
    account_id,
    owner_id,
    contact_id,
    cast({{ cfg_column(m['amount']) }} as {{ type_double() }}) as amount,
    cast({{ cfg_column(m['stage']) }} as {{ dbt.type_string() }}) as stage,
    cast({{ cfg_column(m['close_date']) }} as date) as close_date,
    coalesce(cast({{ cfg_column(m['is_won']) }} as {{ dbt.type_boolean() }}), false) as is_won,
    coalesce(cast({{ cfg_column(m['is_closed']) }} as {{ dbt.type_boolean() }}), false) as is_closed,
    cast({{ cfg_column(m['lead_source']) }} as {{ dbt.type_string() }}) as lead_source,
    cast({{ cfg_column(m['primary_campaign']) }} as {{ dbt.type_string() }}) as primary_campaign_id,
    created_at
from {{ ref('stg_salesforce__opportunities') }}
where not is_deleted
