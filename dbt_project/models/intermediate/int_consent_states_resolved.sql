{#- What each system's opt-out state should be, per normalised email, under var optout_direction:
    pull: a Salesforce record with the box checked puts the email on Act-On's opt-out list (a Salesforce
          un-check never opts anyone back in);
    push: an email on Act-On's opt-out list (or with a spam complaint) checks the box on every Lead and Contact;
          an Act-On opt-in un-checks it, unless a Salesforce check came after that opt-in;
    both: the latest consent event decides for both systems, where a Salesforce un-check is never an event;
    off:  nothing.
    desired_* is null where the direction leaves that system alone. Ties between an opt-out and an opt-in at
    the same instant go to the opt-out: an opt-out is never lost. Other ties (a write-back's echo carries the
    time of the event it echoes) go to the lower consent_event_id, so the same events always give the same row. -#}
{%- set direction = var('optout_direction') -%}
with events as (
    select
        *,
        case when event_type = 'opt_out' then 0 else 1 end as opt_out_first
    from {{ ref('int_consent_events_unioned') }}
),

decisive as (
    select
        *,
        row_number() over (partition by email order by event_at desc, opt_out_first, consent_event_id) as recency
    from events
    where not (source_system = 'salesforce' and event_type = 'opt_in')
),

acton as (
    select
        *,
        row_number() over (partition by email order by event_at desc, opt_out_first, consent_event_id) as recency
    from events
    where source_system = 'acton'
),

salesforce_record_states as (
    select
        *,
        row_number() over (partition by salesforce_id order by event_at desc, opt_out_first, consent_event_id) as recency
    from events
    where source_system = 'salesforce'
),

salesforce_checked as (
    -- the latest check among the records whose box is checked now
    select
        email,
        source_event,
        event_at,
        row_number() over (partition by email order by event_at desc, consent_event_id) as recency
    from salesforce_record_states
    where recency = 1 and event_type = 'opt_out'
),

latest_salesforce_check as (
    select email, max(event_at) as event_at
    from events
    where source_system = 'salesforce' and event_type = 'opt_out'
    group by email
),

emails as (
    select distinct email from events
),

resolved as (
    select
        e.email,
        d.event_type as latest_event_type,
        d.source_event as latest_source_event,
        d.event_at as latest_event_at,
        {% if direction == 'both' -%}
        d.event_type = 'opt_out' as desired_salesforce_opted_out,
        d.source_event as salesforce_source_event,
        d.event_at as salesforce_event_at,
        d.event_type = 'opt_out' as desired_acton_opted_out,
        d.source_event as acton_source_event,
        d.event_at as acton_event_at
        {%- else -%}
        {%- if direction == 'push' %}
        case
            when a.event_type = 'opt_out' then true
            when a.event_type = 'opt_in' and (s.event_at is null or a.event_at > s.event_at) then false
        end as desired_salesforce_opted_out,
        a.source_event as salesforce_source_event,
        a.event_at as salesforce_event_at,
        {%- else %}
        cast(null as {{ dbt.type_boolean() }}) as desired_salesforce_opted_out,
        cast(null as {{ dbt.type_string() }}) as salesforce_source_event,
        cast(null as {{ dbt.type_timestamp() }}) as salesforce_event_at,
        {%- endif %}
        {%- if direction == 'pull' %}
        case when c.email is not null then true end as desired_acton_opted_out,
        c.source_event as acton_source_event,
        c.event_at as acton_event_at
        {%- else %}
        cast(null as {{ dbt.type_boolean() }}) as desired_acton_opted_out,
        cast(null as {{ dbt.type_string() }}) as acton_source_event,
        cast(null as {{ dbt.type_timestamp() }}) as acton_event_at
        {%- endif %}
        {%- endif %}
    from emails as e
    left join decisive as d on d.email = e.email and d.recency = 1
    left join acton as a on a.email = e.email and a.recency = 1
    left join salesforce_checked as c on c.email = e.email and c.recency = 1
    left join latest_salesforce_check as s on s.email = e.email
)

select
    '{{ direction }}' as optout_direction,
    *
from resolved
