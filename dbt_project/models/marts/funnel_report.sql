{#- Net-new entries per period (sync.yaml funnel.period: week, month or quarter) x stage x lead source, plus one
    row per period x stage over all sources (lead_source '(all)'). Every period from the first entry's to the last
    entry's is listed for every stage turned on and every lead source, with 0 entered when nobody entered, so a
    gap shows as a gap. conversion_rate is by cohort: of those who entered the stage in that period, the share
    that has reached the next stage by now (null for the last stage, Won, and when nobody entered);
    median_days_to_next is over those who reached it. -#}
{%- set all_stages = funnel_all_stages() -%}
with by_source as (
    select period_start, stage, lead_source, next_stage, next_stage_entered_at, days_to_next_stage
    from {{ ref('funnel_stage_entries') }}
),

entries as (
    select * from by_source
    union all
    select period_start, stage, '(all)', next_stage, next_stage_entered_at, days_to_next_stage
    from by_source
),

counted as (
    select
        period_start,
        stage,
        lead_source,
        count(*) as entered,
        case
            when max(next_stage) is not null
                then cast(sum(case when next_stage_entered_at is not null then 1 else 0 end) as {{ type_double() }})
                    / count(*)
        end as conversion_rate,
        {{ median('days_to_next_stage') }} as median_days_to_next
    from entries
    group by period_start, stage, lead_source
),

bounds as (
    select min(period_start) as first_period, max(period_start) as last_period
    from by_source
),

periods as (
    select {{ funnel_period_spine('first_period', 'last_period') }} as period_start
    from bounds
    where first_period is not null
),

stages as (
    {%- for stage in var('funnel_stages') %}
    select '{{ stage }}' as stage, {{ all_stages.index(stage) + 1 }} as stage_order
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

lead_sources as (
    select distinct lead_source from entries
)

select
    p.period_start,
    {{ funnel_period_label('p.period_start') }} as period,
    s.stage,
    cast(s.stage_order as {{ dbt.type_int() }}) as stage_order,
    ls.lead_source,
    cast(coalesce(c.entered, 0) as {{ dbt.type_int() }}) as entered,
    cast(c.conversion_rate as {{ type_double() }}) as conversion_rate,
    cast(c.median_days_to_next as {{ type_double() }}) as median_days_to_next
from periods as p
cross join stages as s
cross join lead_sources as ls
left join counted as c
    on c.period_start = p.period_start and c.stage = s.stage and c.lead_source = ls.lead_source
