{#- Funnel dates per person along the stages turned on (sync.yaml funnel.stages; Known -> Engaged -> MQL -> SQL ->
    Opportunity -> Won when all are): a stage is reached when it or any later stage is; a skipped stage takes the
    next reached stage's date, and a stage reached after a later one takes that later one's date, so dates never
    decrease along the funnel. A stage turned off is never entered (its date is null) and passes no date on. -#}
{%- set all_stages = funnel_all_stages() -%}
{%- set stages = var('funnel_stages') | reverse | list -%}
with step_0 as (
    select * from {{ ref('int_funnel_milestones_collected') }}
),
{%- for stage in stages %}
step_{{ loop.index }} as (
    select
        *,
        {% if loop.first -%}
        {{ stage }}_at as {{ stage }}_entered_at
        {%- else -%}
        {{ earlier(stage ~ '_at', stages[loop.index0 - 1] ~ '_entered_at') }} as {{ stage }}_entered_at
        {%- endif %}
    from step_{{ loop.index0 }}
){% if not loop.last %},{% endif %}
{%- endfor %}

select
    email,
    lead_source,
    {%- for stage in all_stages %}
    {% if stage in stages -%}
    {{ stage }}_entered_at,
    {%- else -%}
    cast(null as {{ dbt.type_timestamp() }}) as {{ stage }}_entered_at,
    {%- endif %}
    {%- endfor %}
    case
        {%- for stage in stages %}
        when {{ stage }}_entered_at is not null then '{{ stage }}'
        {%- endfor %}
    end as stage_reached
from step_{{ stages | length }}
