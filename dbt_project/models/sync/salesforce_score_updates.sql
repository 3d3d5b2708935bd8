{#- Score writes to Salesforce: every Lead and Contact (of objects whose list pushes to Salesforce) whose score
    field differs from the person's behavioural score. A person with no score leaves the field as it is. -#}
select
    r.salesforce_id,
    r.salesforce_object,
    r.person_email as email,
    '{{ var("salesforce_score_field") }}' as field,
    r.score_field_value as old_value,
    cast({{ round_whole('s.score') }} as {{ type_double() }}) as new_value
from {{ ref('int_salesforce_records_unioned') }} as r
inner join {{ ref('int_scores_current') }} as s on s.email = r.person_email
where not r.is_deleted
    and not r.is_converted  -- Salesforce refuses writes to converted leads
    and r.salesforce_object in {{ sql_in_list(list_objects(['push', 'both'])) }}
    and r.score_field_value is distinct from {{ round_whole('s.score') }}
