{#- HasOptedOutOfEmail writes: every live Lead and Contact whose box differs from its email's resolved consent
    state (int_consent_states_resolved, under the configured direction). -#}
select
    r.salesforce_id,
    r.salesforce_object,
    r.person_email as email,
    'HasOptedOutOfEmail' as field,
    r.has_opted_out_of_email as old_value,
    c.desired_salesforce_opted_out as new_value,
    c.salesforce_source_event as source_event,
    c.salesforce_event_at as event_at
from {{ ref('int_salesforce_records_unioned') }} as r
inner join {{ ref('int_consent_states_resolved') }} as c on c.email = r.person_email
where not r.is_deleted
    and not r.is_converted  -- Salesforce refuses writes to converted leads
    and c.desired_salesforce_opted_out is not null
    and r.has_opted_out_of_email <> c.desired_salesforce_opted_out
