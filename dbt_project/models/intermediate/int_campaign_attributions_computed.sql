{#- Credit per (opportunity, campaign) under each attribution model, weights summing to 1 per opportunity:
    primary = the opportunity's primary campaign (when it is a live campaign); first_touch / last_touch = the
    earliest / latest touch; linear = every touch an equal share. An opportunity without touches gets no
    multi-touch credit, so each multi-touch model distributes exactly the opportunities that have touches. -#}
with touches as (
    select
        *,
        row_number() over (partition by opportunity_id order by touched_at, campaign_member_id) as from_first,
        row_number() over (partition by opportunity_id order by touched_at desc, campaign_member_id desc)
            as from_last,
        count(*) over (partition by opportunity_id) as touch_count
    from {{ ref('int_campaign_touches_collected') }}
),

live_campaigns as (
    select campaign_id from {{ ref('stg_salesforce__campaigns') }} where not is_deleted
),

credits as (
    select o.opportunity_id, o.primary_campaign_id as campaign_id, 'primary' as attribution_model, 1.0 as weight
    from {{ ref('int_opportunities_mapped') }} as o
    inner join live_campaigns as c on c.campaign_id = o.primary_campaign_id
    union all
    select opportunity_id, campaign_id, 'first_touch', 1.0 from touches where from_first = 1
    union all
    select opportunity_id, campaign_id, 'last_touch', 1.0 from touches where from_last = 1
    union all
    select opportunity_id, campaign_id, 'linear', 1.0 / touch_count from touches
)

select
    {{ dbt.concat(["opportunity_id", "'|'", "attribution_model", "'|'", "campaign_id"]) }} as attribution_id,
    opportunity_id,
    campaign_id,
    attribution_model,
    cast({{ ordered_sum('weight') }} as {{ type_double() }}) as weight
from credits
group by opportunity_id, campaign_id, attribution_model
