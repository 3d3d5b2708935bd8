select
    {{ email_columns('email') }},
    cast(complained_at as {{ dbt.type_timestamp() }}) as complained_at,
    origin
from {{ source('raw_acton', 'spam_complaints') }}
