{#- Emails to add to Act-On's opt-out list: resolved as opted out and not on the list as last extracted.
    (There is no opposite model: the only opt-in the rules allow comes from Act-On itself.) -#}
select
    c.email,
    c.acton_source_event as source_event,
    c.acton_event_at as event_at
from {{ ref('int_consent_states_resolved') }} as c
left join {{ ref('stg_acton__optouts') }} as o on o.email = c.email
where c.desired_acton_opted_out and o.email is null
