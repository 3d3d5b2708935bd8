{#- HasOptedOutOfEmail writes: every live Lead and Contact whose box differs from its email's resolved consent
    state (int_consent_states_resolved, under the configured direction).
    An un-check waits while the record was changed after the opt-in it rests on (for an inferred one, after the
    list last showed the email) by anyone but the integration user: Salesforce keeps no history of the box, so a
    person who cleared and checked it again in between — a newer opt-out — looks the same as an edit of another
    field, and an opt-out is never lost on a guess. -#}
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
    and (
        c.desired_salesforce_opted_out
        or r.last_modified_at <= c.salesforce_event_at
        or r.last_modified_by_id = {{ sql_string(var('integration_user_id', '')) }}
    )
