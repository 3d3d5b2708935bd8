select
    {{ dbt.concat(["message_id", "'|'", "event_type", "'|'", "coalesce(email, '')", "'|'",
                   dbt.cast("event_at", dbt.type_string())]) }} as message_event_id,
    message_id,
    upper(event_type) as event_type,
    {{ email_columns('email') }},
    contact_id,
    cast(event_at as {{ dbt.type_timestamp() }}) as event_at
from {{ source('raw_acton', 'message_events') }}
