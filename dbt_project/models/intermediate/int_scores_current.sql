{#- The behavioural score per person now: the most recently updated Act-On contact with a score. -#}
with scored as (
    select
        person_email,
        behavioural_score,
        updated_at,
        row_number() over (partition by person_email order by updated_at desc nulls last, acton_record_id) as recency
    from {{ ref('int_acton_records_matched') }}
    where acton_source = 'contact' and behavioural_score is not null
)

select
    person_email as email,
    behavioural_score as score,
    updated_at as score_updated_at
from scored
where recency = 1
