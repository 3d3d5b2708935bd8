{#- Email engagement per person from Act-On message events: an event of a type in sync.yaml
    funnel.engagement_events (default an open or a click) is engagement. -#}
{%- set engaged = "event_type in " ~ sql_in_list(var('engagement_events')) -%}
select
    email,
    min(case when {{ engaged }} then event_at end) as first_engaged_at,
    max(case when {{ engaged }} then event_at end) as last_engaged_at,
    sum(case when event_type = 'SENT' then 1 else 0 end) as sends,
    sum(case when event_type = 'OPENED' then 1 else 0 end) as opens,
    sum(case when event_type = 'CLICKED' then 1 else 0 end) as clicks
from {{ ref('stg_acton__message_events') }}
where is_valid_email
group by email
