{#- One row per person per funnel stage reached (of the stages turned on, sync.yaml funnel.stages), with when
    the next stage turned on was reached (if it was). stage_order is the stage's place in the whole funnel, so
    it does not move when a stage is turned off. -#}
{%- set all_stages = funnel_all_stages() -%}
{%- set stages = var('funnel_stages') -%}
with entries as (
{%- for stage in stages %}
    select
        email,
        lead_source,
        '{{ stage }}' as stage,
        {{ all_stages.index(stage) + 1 }} as stage_order,
        {{ stage }}_entered_at as entered_at,
        {% if loop.last -%}
        cast(null as {{ dbt.type_string() }}) as next_stage,
        cast(null as {{ dbt.type_timestamp() }}) as next_stage_entered_at
        {%- else -%}
        '{{ stages[loop.index] }}' as next_stage,
        {{ stages[loop.index] }}_entered_at as next_stage_entered_at
        {%- endif %}
    from {{ ref('int_funnel_stages_dated') }}
    where {{ stage }}_entered_at is not null
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
)

select
    {{ dbt.concat(["email", "'|'", "stage"]) }} as stage_entry_id,
    email,
    lead_source,
    stage,
    cast(stage_order as {{ dbt.type_int() }}) as stage_order,
    entered_at,
    {{ funnel_period_start('entered_at') }} as period_start,
    next_stage,
    next_stage_entered_at,
    cast({{ dbt.datediff('entered_at', 'next_stage_entered_at', 'day') }} as {{ dbt.type_int() }})
        as days_to_next_stage
from entries
