select
    {{ email_columns('email') }},
    cast(bounced_at as {{ dbt.type_timestamp() }}) as bounced_at,
    origin
from {{ source('raw_acton', 'hard_bounces') }}
