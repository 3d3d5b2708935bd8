{#- Net-new entries per month x stage x lead source, plus one row per month x stage over all sources
    (lead_source '(all)'). conversion_rate is by cohort: of those who entered the stage in that month, the share
    that has reached the next stage by now (null for the last stage, Won); median_days_to_next is over those
    who reached it. -#}
with by_source as (
    select period_start, stage, stage_order, lead_source, next_stage, next_stage_entered_at, days_to_next_stage
    from {{ ref('funnel_stage_entries') }}
),

all_sources as (
    select
        period_start, stage, stage_order, '(all)' as lead_source, next_stage, next_stage_entered_at,
        days_to_next_stage
    from by_source
),

entries as (
    select * from by_source
    union all
    select * from all_sources
)

select
    period_start,
    stage,
    cast(stage_order as {{ dbt.type_int() }}) as stage_order,
    lead_source,
    cast(count(*) as {{ dbt.type_int() }}) as entered,
    case
        when max(next_stage) is not null
            then cast(sum(case when next_stage_entered_at is not null then 1 else 0 end) as {{ type_double() }})
                / count(*)
    end as conversion_rate,
    cast({{ median('days_to_next_stage') }} as {{ type_double() }}) as median_days_to_next
from entries
group by period_start, stage, stage_order, lead_source
