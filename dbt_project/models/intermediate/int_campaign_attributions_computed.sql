{#- Credit per (opportunity, campaign) under each attribution model, weights summing to 1 per opportunity:
    primary = the opportunity's primary campaign; first_touch / last_touch = the earliest / latest touch;
    linear = every touch an equal share. -#}
with touches as (
    select
        *,
        row_number() over (partition by opportunity_id order by touched_at, campaign_member_id) as from_first,
        row_number() over (partition by opportunity_id order by touched_at desc, campaign_member_id desc)
            as from_last,
        count(*) over (partition by opportunity_id) as touch_count
    from {{ ref('int_campaign_touches_collected') }}
),

credits as (
    select opportunity_id, primary_campaign_id as campaign_id, 'primary' as attribution_model, 1.0 as weight
    from {{ ref('int_opportunities_mapped') }}
    where primary_campaign_id is not null
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
    cast(sum(weight) as {{ type_double() }}) as weight
from credits
group by opportunity_id, campaign_id, attribution_model
