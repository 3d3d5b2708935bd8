select
    contact_id,
    {{ email_columns('email') }},
    {% if var('score_source') == 'acton_primary_score' -%}
    cast(score as {{ type_double() }})
    {%- else -%}
    cast({{ json_text('fields', var('score_source')[6:]) }} as {{ type_double() }})
    {%- endif %} as behavioural_score,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at
from {{ source('raw_acton', 'contacts') }}
