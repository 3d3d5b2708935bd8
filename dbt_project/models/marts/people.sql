{#- One row per person (normalised email) in either system, with where it came from and how far it got. -#}
select
    p.email,
    p.primary_salesforce_object,
    p.primary_salesforce_id,
    p.first_name,
    p.last_name,
    p.company,
    p.owner_id,
    u.user_name as owner_name,
    p.lead_source,
    p.system_of_origin,
    p.in_salesforce,
    p.in_acton,
    cast(p.salesforce_record_count as {{ dbt.type_int() }}) as salesforce_record_count,
    s.score,
    e.last_engaged_at,
    f.stage_reached,
    f.known_entered_at as known_at,
    f.engaged_entered_at as engaged_at,
    f.mql_entered_at as mql_at,
    f.sql_entered_at as sql_at,
    f.opportunity_entered_at as opportunity_at,
    f.won_entered_at as won_at
from {{ ref('int_people_identified') }} as p
left join {{ ref('stg_salesforce__users') }} as u on u.user_id = p.owner_id
left join {{ ref('int_scores_current') }} as s on s.email = p.email
left join {{ ref('int_engagements_aggregated') }} as e on e.email = p.email
left join {{ ref('int_funnel_stages_dated') }} as f on f.email = p.email
