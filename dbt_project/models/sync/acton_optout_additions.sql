{#- Emails to add to Act-On's opt-out list: resolved as opted out and not on the list as the pipeline knows it —
    on it in the last read, or on it in an earlier read and not (yet) inferred to have left it: a whole read
    that saw fewer rows than the list holds is not a reason to upload them again.
    (There is no opposite model: the only opt-in the rules allow comes from Act-On itself.) -#}
with on_list as (
    select email from {{ ref('stg_acton__optouts') }}
    union
    select email from {{ ref('stg_acton__optout_history_entries') }} where removed_at is null
)

select
    c.email,
    c.acton_source_event as source_event,
    c.acton_event_at as event_at
from {{ ref('int_consent_states_resolved') }} as c
left join on_list as o on o.email = c.email
where c.desired_acton_opted_out and o.email is null
