{#- Each multi-touch attribution model hands out exactly the won revenue of the opportunities that have touches:
    no more (double counting), no less (credit lost on the way). A check on roi_report in Dagster. -#}
{{ config(meta={'dagster': {'ref': {'name': 'roi_report'}}}) }}
with touched as (
    select distinct opportunity_id from {{ ref('int_campaign_touches_collected') }}
),

expected as (
    select coalesce(sum(coalesce(o.amount, 0)), 0) as won_revenue
    from {{ ref('int_opportunities_mapped') }} as o
    inner join touched as t on t.opportunity_id = o.opportunity_id
    where o.is_won
),

distributed as (
    select attribution_model, sum(won_revenue) as won_revenue
    from {{ ref('roi_report') }}
    where attribution_model in ('first_touch', 'last_touch', 'linear')
    group by attribution_model
)

select d.attribution_model, d.won_revenue as distributed, e.won_revenue as expected
from distributed as d
cross join expected as e
where abs(d.won_revenue - e.won_revenue) > 0.01
