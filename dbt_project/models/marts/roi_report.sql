{#- ROI per campaign under each attribution model. cost = ActualCost, else BudgetedCost;
    roi = (attributed won revenue - cost) / cost, null when the cost is 0 or unknown. -#}
with credited as (
    select
        a.campaign_id,
        a.attribution_model,
        sum(a.weight) as attributed_opportunities,
        sum(a.weight * coalesce(o.amount, 0)) as attributed_pipeline,
        sum(case when o.is_won then a.weight else 0 end) as attributed_won_opportunities,
        sum(case when o.is_won then a.weight * coalesce(o.amount, 0) else 0 end) as attributed_won_revenue
    from {{ ref('int_campaign_attributions_computed') }} as a
    inner join {{ ref('int_opportunities_mapped') }} as o on o.opportunity_id = a.opportunity_id
    group by a.campaign_id, a.attribution_model
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
        coalesce(actual_cost, budgeted_cost) as cost
    from {{ ref('stg_salesforce__campaigns') }}
    where not is_deleted
)

select
    {{ dbt.concat(["c.campaign_id", "'|'", "m.attribution_model"]) }} as roi_report_id,
    c.campaign_id,
    c.campaign_name,
    c.campaign_type,
    m.attribution_model,
    cast(c.cost as {{ type_double() }}) as cost,
    cast(coalesce(cr.attributed_opportunities, 0) as {{ type_double() }}) as attributed_opportunities,
    cast(coalesce(cr.attributed_pipeline, 0) as {{ type_double() }}) as attributed_pipeline,
    cast(coalesce(cr.attributed_won_opportunities, 0) as {{ type_double() }}) as attributed_won_opportunities,
    cast(coalesce(cr.attributed_won_revenue, 0) as {{ type_double() }}) as attributed_won_revenue,
    cast(
        case when c.cost > 0 then (coalesce(cr.attributed_won_revenue, 0) - c.cost) / c.cost end
        as {{ type_double() }}
    ) as roi
from campaigns as c
cross join models as m
left join credited as cr on cr.campaign_id = c.campaign_id and cr.attribution_model = m.attribution_model
