select
    {{ email_columns('email') }},
    system,
    old_value,
    new_value,
    source_event,
    cast(event_at as {{ dbt.type_timestamp() }}) as event_at,
    run_id,
    cast(written_at as {{ dbt.type_timestamp() }}) as written_at
from {{ source('sync_state', 'consent_ledger') }}
