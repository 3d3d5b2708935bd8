{#- What each configured Act-On list should hold: one record per email, carrying the fields of the most
    recently modified live record of the list's object with that email (a Contacts list holds contacts; a
    Leads list holds unconverted leads: converted ones have moved to the Contacts list), and the behavioural
    score as Lead Score. field_values: each mapped column but Email as {heading, value}, the value as the list
    carries it (macros/configured_fields.sql), null where Salesforce has none or there is no score. -#}
with ranked as (
{%- for lst in var('acton_lists') %}
{%- set obj = lst['object'] | lower %}
    select
        {{ sql_string(lst['name']) }} as list_name,
        '{{ lst["object"] }}' as salesforce_object,
        '{{ lst["direction"] }}' as direction,
        r.person_email as email,
        r.salesforce_id,
        {{ list_field_values(lst) }} as field_values,
        {{ sql_string(lst['lead_score_heading']) if lst['lead_score_heading'] else 'cast(null as ' ~ dbt.type_string() ~ ')' }}
            as lead_score_heading,
        row_number() over (
            partition by r.person_email order by changes.changed_by_people_at desc nulls last, r.salesforce_id
        ) as recency
    from {{ ref('int_salesforce_records_unioned') }} as r
    inner join {{ ref('int_salesforce_people_changes_observed') }} as changes
        on changes.salesforce_id = r.salesforce_id
    inner join {{ ref('stg_salesforce__' ~ obj ~ 's') }} as rec on rec.{{ obj }}_id = r.salesforce_id
    {%- if obj == 'contact' %}
    left join {{ ref('stg_salesforce__accounts') }} as account on account.account_id = rec.account_id
    {%- endif %}
    left join {{ ref('stg_salesforce__users') }} as owner on owner.user_id = rec.owner_id
    where r.salesforce_object = '{{ lst["object"] }}'
        and not r.is_deleted
        and not r.is_converted
        and r.person_email is not null
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
)

select
    {{ dbt.concat(["ranked.list_name", "'|'", "ranked.email"]) }} as list_member_id,
    ranked.list_name,
    ranked.salesforce_object,
    ranked.direction,
    ranked.email,
    ranked.salesforce_id,
    case
        when ranked.lead_score_heading is null then ranked.field_values
        else {{ append_heading_value('ranked.field_values', 'ranked.lead_score_heading',
                                     list_value(round_whole('s.score'))) }}
    end as field_values
from ranked
left join {{ ref('int_scores_current') }} as s on s.email = ranked.email
where ranked.recency = 1
