{#- Live opportunities with the report-mapped fields and the people they belong to. -#}
with people as (
    select opportunity_id, count(*) as people_count
    from {{ ref('int_opportunity_people_linked') }}
    group by opportunity_id
),

touches as (
    select opportunity_id, count(*) as touch_count
    from {{ ref('int_campaign_touches_collected') }}
    group by opportunity_id
)

select
    o.opportunity_id,
    o.opportunity_name,
    o.account_id,
    o.owner_id,
    o.amount,
    o.stage,
    o.close_date,
    o.is_won,
    o.is_closed,
    o.lead_source,
    o.primary_campaign_id,
    o.created_at,
    cast(coalesce(p.people_count, 0) as {{ dbt.type_int() }}) as people_count,
    cast(coalesce(t.touch_count, 0) as {{ dbt.type_int() }}) as campaign_touch_count
from {{ ref('int_opportunities_mapped') }} as o
left join people as p on p.opportunity_id = o.opportunity_id
left join touches as t on t.opportunity_id = o.opportunity_id
