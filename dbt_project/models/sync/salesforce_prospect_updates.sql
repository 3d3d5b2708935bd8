{#- The two fields sales see on every Lead and Contact of a sales prospect: high intent and last engagement.
    People who are no longer high-intent prospects get high intent un-checked; last engagement is written only
    for prospects that have one. One row per record and field that differs, values as the write-back sends them;
    a field sync.yaml sets to null has no rows. -#}
with desired as (
    select
        r.salesforce_id,
        r.salesforce_object,
        r.person_email as email,
        r.high_intent_field_value as high_intent_old,
        coalesce(sp.is_high_intent, false) as high_intent_new,
        r.last_engagement_field_value as last_engagement_old,
        coalesce(sp.last_engaged_at, r.last_engagement_field_value) as last_engagement_new
    from {{ ref('int_salesforce_records_unioned') }} as r
    left join {{ ref('sales_prospects') }} as sp on sp.email = r.person_email
    -- Salesforce refuses writes to converted leads
    where not r.is_deleted and not r.is_converted and r.person_email is not null
),

{#- (field, old value, new value, whether they differ) of each field sync.yaml names; an empty checkbox is
    unchecked -#}
{%- set fields = [] %}
{%- if var('high_intent_field') is not none %}
    {%- do fields.append([var('high_intent_field'), 'high_intent_old', 'high_intent_new',
        'coalesce(high_intent_old, false) <> high_intent_new']) %}
{%- endif %}
{%- if var('last_engagement_field') is not none %}
    {%- do fields.append([var('last_engagement_field'), salesforce_datetime_text('last_engagement_old'),
        salesforce_datetime_text('last_engagement_new'), 'last_engagement_new is distinct from last_engagement_old']) %}
{%- endif %}

changed as (
    {%- for name, old, new, differs in fields %}
    select salesforce_id, salesforce_object, email, {{ sql_string(name) }} as field,
        cast({{ old }} as {{ dbt.type_string() }}) as old_value,
        cast({{ new }} as {{ dbt.type_string() }}) as new_value
    from desired
    where {{ differs }}
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select salesforce_id, salesforce_object, email,
        cast(null as {{ dbt.type_string() }}) as field,
        cast(null as {{ dbt.type_string() }}) as old_value,
        cast(null as {{ dbt.type_string() }}) as new_value
    from desired
    where false
    {%- endfor %}
)

select salesforce_id, salesforce_object, email, field, old_value, new_value
from changed
