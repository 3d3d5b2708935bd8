{#- Net-new entries per stage per month by lead source; conversion by cohort: of those who entered the stage in
    that month, the share that has reached the next stage by now; median days to the next stage. -#}
select
    {{ dbt.concat([dbt.cast("period_start", dbt.type_string()), "'|'", "lead_source", "'|'", "stage"]) }}
        as funnel_period_id,
    period_start,
    lead_source,
    stage,
    stage_order,
    cast(count(*) as {{ dbt.type_int() }}) as entries,
    cast(sum(case when next_stage_entered_at is not null then 1 else 0 end) as {{ dbt.type_int() }})
        as reached_next_stage,
    case
        when max(next_stage) is not null
            then cast(sum(case when next_stage_entered_at is not null then 1 else 0 end) as {{ type_double() }})
                / count(*)
    end as conversion_rate,
    cast(percentile_cont(0.5) within group (order by days_to_next_stage) as {{ type_double() }})
        as median_days_to_next_stage
from {{ ref('funnel_stage_entries') }}
group by period_start, lead_source, stage, stage_order
