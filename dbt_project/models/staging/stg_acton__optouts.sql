select
    {{ email_columns('email') }},
    cast(opted_out_at as {{ dbt.type_timestamp() }}) as opted_out_at,
    origin
from {{ source('raw_acton', 'optouts') }}
