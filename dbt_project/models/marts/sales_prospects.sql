{#- Members of the lists assigned to Sales Prospects (sync.yaml sales_prospects), one row per person:
    Prospects Assigned to Sales and Existing Contacts Assigned to Sales = members with an owner;
    Prospects in Active Opportunities = members on an open opportunity through a contact role.
    High intent = score at or over high_intent_score and engaged within engagement_window_days;
    intent_rank orders each owner's prospects, most intent first. -#}
{%- set assigned = var('sales_prospect_lists') -%}
with members as (
    select * from {{ ref('int_acton_list_members_desired') }}
),

open_opportunity_people as (
    select distinct l.email
    from {{ ref('int_opportunity_people_linked') }} as l
    inner join {{ ref('int_opportunities_mapped') }} as o on o.opportunity_id = l.opportunity_id
    where l.linked_through = 'contact_role' and not o.is_closed
),

flags as (
    select
        p.email
        {%- for key, condition in [
            ('prospects_assigned_to_sales', 'p.owner_id is not null'),
            ('existing_contacts_assigned_to_sales', 'p.owner_id is not null'),
            ('prospects_in_active_opportunities', 'oo.email is not null'),
        ] %},
        {% if assigned[key] is none -%}
        false
        {%- else -%}
        max(case when m.list_name = {{ sql_string(assigned[key]) }} and {{ condition }} then 1 else 0 end) = 1
        {%- endif %} as in_{{ key }}
        {%- endfor %}
    from members as m
    inner join {{ ref('int_people_identified') }} as p on p.email = m.email
    left join open_opportunity_people as oo on oo.email = m.email
    group by p.email
),

prospects as (
    select
        f.*,
        p.primary_salesforce_object,
        p.primary_salesforce_id,
        p.owner_id,
        u.user_name as owner_name,
        u.email as owner_email,
        s.score,
        e.last_engaged_at,
        coalesce(
            s.score >= {{ var('high_intent_score') }}
            and e.last_engaged_at >= {{ dbt.dateadd('day', -var('engagement_window_days'), observed_at()) }},
            false
        ) as is_high_intent
    from flags as f
    inner join {{ ref('int_people_identified') }} as p on p.email = f.email
    left join {{ ref('stg_salesforce__users') }} as u on u.user_id = p.owner_id
    left join {{ ref('int_scores_current') }} as s on s.email = f.email
    left join {{ ref('int_engagements_aggregated') }} as e on e.email = f.email
    where f.in_prospects_assigned_to_sales
        or f.in_existing_contacts_assigned_to_sales
        or f.in_prospects_in_active_opportunities
)

select
    email,
    primary_salesforce_object,
    primary_salesforce_id,
    owner_id,
    owner_name,
    owner_email,
    score,
    last_engaged_at,
    is_high_intent,
    cast(row_number() over (
        partition by owner_id
        order by
            case when is_high_intent then 0 else 1 end,
            case when score is null then 1 else 0 end,
            score desc,
            case when last_engaged_at is null then 1 else 0 end,
            last_engaged_at desc,
            email
    ) as {{ dbt.type_int() }}) as intent_rank,
    in_prospects_assigned_to_sales,
    in_existing_contacts_assigned_to_sales,
    in_prospects_in_active_opportunities
from prospects
