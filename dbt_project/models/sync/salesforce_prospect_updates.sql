{#- The two fields sales see on every Lead and Contact of a sales prospect: high intent and last engagement.
    People who are no longer high-intent prospects get high intent un-checked; last engagement is written only
    for prospects that have one. Only records where a field differs. -#}
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
)

select
    salesforce_id,
    salesforce_object,
    email,
    '{{ var("high_intent_field") }}' as high_intent_field,
    high_intent_old,
    high_intent_new,
    '{{ var("last_engagement_field") }}' as last_engagement_field,
    last_engagement_old,
    last_engagement_new
from desired
where coalesce(high_intent_old, false) <> high_intent_new
    or last_engagement_new is distinct from last_engagement_old
