{#- The first date each person reached each funnel stage on its own, from the sources (never the run time,
    except MQL, which is the first observation of the score at or over the threshold). -#}
with records as (
    select * from {{ ref('int_salesforce_records_unioned') }}
    where person_email is not null and not is_deleted
),

mql as (
    select email, min(observed_at) as mql_at
    from {{ ref('int_scores_observed') }}
    where score >= {{ var('mql_score') }}
    group by email
),

sql_stage as (
    select
        r.person_email as email,
        min(cast(r.converted_date as {{ dbt.type_timestamp() }})) as converted_at,
        min(q.qualified_at) as qualified_at
    from records as r
    left join {{ ref('int_lead_qualifications_observed') }} as q on q.lead_id = r.salesforce_id
    where r.salesforce_object = 'Lead'
    group by r.person_email
),

opportunity_stage as (
    select
        l.email,
        min(o.created_at) as opportunity_at,
        min(case when o.is_won then cast(o.close_date as {{ dbt.type_timestamp() }}) end) as won_at
    from {{ ref('int_opportunity_people_linked') }} as l
    inner join {{ ref('int_opportunities_mapped') }} as o on o.opportunity_id = l.opportunity_id
    group by l.email
)

select
    p.email,
    p.lead_source,
    p.known_at,
    e.first_engaged_at as engaged_at,
    m.mql_at,
    coalesce(s.converted_at, s.qualified_at) as sql_at,
    o.opportunity_at,
    o.won_at
from {{ ref('int_people_identified') }} as p
left join {{ ref('int_engagements_aggregated') }} as e on e.email = p.email
left join mql as m on m.email = p.email
left join sql_stage as s on s.email = p.email
left join opportunity_stage as o on o.email = p.email
