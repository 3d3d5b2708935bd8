select
    message_id,
    name as message_name,
    subject,
    cast(sent_at as {{ dbt.type_timestamp() }}) as sent_at
from {{ source('raw_acton', 'messages') }}
