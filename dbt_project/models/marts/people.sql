{#- One row per person (normalised email) in either system: its ids in both systems, owner, score, consent in
    each system, and how far it got in the funnel and when. -#}
{%- set stages = ['known', 'engaged', 'mql', 'sql', 'opportunity', 'won'] -%}
with salesforce_ids as (
    select
        person_email as email,
        {{ sorted_listagg('salesforce_id', "','") }} as salesforce_ids,
        max(case when has_opted_out_of_email then 1 else 0 end) = 1 as salesforce_opted_out
    from {{ ref('int_salesforce_records_unioned') }}
    where person_email is not null and not is_deleted
    group by person_email
),

acton_contacts as (
    select
        person_email as email,
        acton_record_id as acton_contact_id,
        row_number() over (partition by person_email order by updated_at desc nulls last, acton_record_id) as recency
    from {{ ref('int_acton_records_matched') }}
    where acton_source = 'contact'
),

acton_optouts as (
    select email from {{ ref('stg_acton__optouts') }} where is_valid_email
    union
    select email from {{ ref('stg_acton__spam_complaints') }} where is_valid_email
)

select
    p.email,
    p.primary_salesforce_object,
    p.primary_salesforce_id,
    ids.salesforce_ids,
    ac.acton_contact_id,
    p.first_name,
    p.last_name,
    p.company,
    p.owner_id,
    u.user_name as owner_name,
    u.email as owner_email,
    p.lead_source,
    p.system_of_origin,
    p.in_salesforce,
    p.in_acton,
    cast(p.salesforce_record_count as {{ dbt.type_int() }}) as salesforce_record_count,
    s.score,
    e.last_engaged_at,
    coalesce(ids.salesforce_opted_out, false) as salesforce_opted_out,
    ao.email is not null as acton_opted_out,
    c.latest_source_event as consent_source_event,
    c.latest_event_at as consent_event_at,
    f.stage_reached,
    case f.stage_reached
        {%- for stage in stages %}
        when '{{ stage }}' then f.{{ stage }}_entered_at
        {%- endfor %}
    end as stage_reached_at,
    {%- for stage in stages %}
    f.{{ stage }}_entered_at as {{ stage }}_at{% if not loop.last %},{% endif %}
    {%- endfor %}
from {{ ref('int_people_identified') }} as p
left join {{ ref('stg_salesforce__users') }} as u on u.user_id = p.owner_id
left join salesforce_ids as ids on ids.email = p.email
left join acton_contacts as ac on ac.email = p.email and ac.recency = 1
left join acton_optouts as ao on ao.email = p.email
left join {{ ref('int_consent_states_resolved') }} as c on c.email = p.email
left join {{ ref('int_scores_current') }} as s on s.email = p.email
left join {{ ref('int_engagements_aggregated') }} as e on e.email = p.email
left join {{ ref('int_funnel_stages_dated') }} as f on f.email = p.email
