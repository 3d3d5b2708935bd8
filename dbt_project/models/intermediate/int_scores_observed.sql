{{ config(materialized='incremental', on_schema_change='fail') }}
{#- Score history: one row per person each time a run sees a score different from the last one kept.
    Kept across runs (Act-On has no score history API), it dates MQL: like Act-On's own funnel,
    MQL starts counting at the first run. -#}
with current_scores as (
    select email, score from {{ ref('int_scores_current') }}
)
{% if is_incremental() %},
last_kept as (
    {{ last_kept('email', ['score']) }}
)
{% endif %}

select
    {{ dbt.concat(["c.email", "'|'", dbt.cast(observed_at(), dbt.type_string())]) }} as score_observation_id,
    c.email,
    c.score,
    {% if is_incremental() %}k.score{% else %}cast(null as {{ type_double() }}){% endif %} as previous_score,
    {{ observed_at() }} as observed_at
from current_scores as c
{% if is_incremental() %}
left join last_kept as k on k.email = c.email
where k.email is null or k.score <> c.score
{% endif %}
