{#- The behavioural score per person now: the most recently updated Act-On contact with a score. -#}
select
    person_email as email,
    first(behavioural_score order by updated_at desc, acton_record_id) as score,
    max(updated_at) as score_updated_at
from {{ ref('int_acton_records_matched') }}
where acton_source = 'contact' and behavioural_score is not null
group by person_email
