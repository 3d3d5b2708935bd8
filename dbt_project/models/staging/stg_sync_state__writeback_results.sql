select
    run_id,
    system,
    object as target_object,
    record_id,
    field,
    old_value,
    new_value,
    status,
    error_code,
    message,
    cast(written_at as {{ dbt.type_timestamp() }}) as written_at
from {{ source('sync_state', 'writeback_results') }}
