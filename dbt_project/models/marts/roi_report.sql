{#- ROI per live campaign under each attribution model (primary, first_touch, last_touch, linear).
    cost = the sum of report_mapping.campaign_cost (default ActualCost), else, when none of those is set, of
    campaign_cost_fallback (default BudgetedCost); members and leads count the campaign's live memberships;
    opportunities, pipeline_amount and won_revenue are the credit the model gives the campaign (fractions under
    linear); roi = (won_revenue - cost) / cost, null when the cost is 0 or unknown. -#}
with credited as (
    select
        a.campaign_id,
        a.attribution_model,
        {{ ordered_sum('a.weight') }} as opportunities,
        {{ ordered_sum('a.weight * coalesce(o.amount, 0)') }} as pipeline_amount,
        {{ ordered_sum('case when o.is_won then a.weight else 0 end') }} as won_opportunities,
        {{ ordered_sum('case when o.is_won then a.weight * coalesce(o.amount, 0) else 0 end') }} as won_revenue
    from {{ ref('int_campaign_attributions_computed') }} as a
    inner join {{ ref('int_opportunities_mapped') }} as o on o.opportunity_id = a.opportunity_id
    group by a.campaign_id, a.attribution_model
),

memberships as (
    select
        campaign_id,
        count(*) as members,
        count(distinct lead_id) as leads
    from {{ ref('stg_salesforce__campaign_members') }}
    where not is_deleted
    group by campaign_id
),

models as (
    select 'primary' as attribution_model
    union all select 'first_touch'
    union all select 'last_touch'
    union all select 'linear'
),

campaigns as (
    select
        campaign_id,
        campaign_name,
        campaign_type,
        {{ campaign_cost() }} as cost
    from {{ ref('stg_salesforce__campaigns') }}
    where not is_deleted
)

select
    m.attribution_model,
    c.campaign_id,
    c.campaign_name,
    c.campaign_type,
    cast(c.cost as {{ type_double() }}) as cost,
    cast(coalesce(ms.members, 0) as {{ dbt.type_int() }}) as members,
    cast(coalesce(ms.leads, 0) as {{ dbt.type_int() }}) as leads,
    cast(coalesce(cr.opportunities, 0) as {{ type_double() }}) as opportunities,
    cast(coalesce(cr.won_opportunities, 0) as {{ type_double() }}) as won_opportunities,
    cast(coalesce(cr.pipeline_amount, 0) as {{ type_double() }}) as pipeline_amount,
    cast(coalesce(cr.won_revenue, 0) as {{ type_double() }}) as won_revenue,
    cast(
        case when c.cost > 0 then (coalesce(cr.won_revenue, 0) - c.cost) / c.cost end
        as {{ type_double() }}
    ) as roi
from campaigns as c
cross join models as m
left join credited as cr on cr.campaign_id = c.campaign_id and cr.attribution_model = m.attribution_model
left join memberships as ms on ms.campaign_id = c.campaign_id
