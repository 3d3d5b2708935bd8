{#- removed_at: when the opt-in was recorded (whole reads of two runs no longer saw the email); the opt-in
    itself happened after last_seen_at, the last time a read saw it. -#}
select
    {{ dbt.concat(["coalesce(email, '')", "'|'", dbt.cast("coalesce(opted_out_at, first_seen_at)", dbt.type_string())]) }}
        as optout_history_id,
    {{ email_columns('email') }},
    cast(opted_out_at as {{ dbt.type_timestamp() }}) as opted_out_at,
    cast(first_seen_at as {{ dbt.type_timestamp() }}) as first_seen_at,
    cast(last_seen_at as {{ dbt.type_timestamp() }}) as last_seen_at,
    cast(removed_at as {{ dbt.type_timestamp() }}) as removed_at
from {{ source('raw_acton', 'optout_history') }}
