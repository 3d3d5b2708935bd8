{#- removed_at: the first whole read of the opt-out list that no longer saw the email, i.e. an opt-in
    observed then. -#}
select
    {{ dbt.concat(["coalesce(email, '')", "'|'", dbt.cast("coalesce(opted_out_at, first_seen_at)", dbt.type_string())]) }}
        as optout_history_id,
    {{ email_columns('email') }},
    cast(opted_out_at as {{ dbt.type_timestamp() }}) as opted_out_at,
    cast(first_seen_at as {{ dbt.type_timestamp() }}) as first_seen_at,
    cast(last_seen_at as {{ dbt.type_timestamp() }}) as last_seen_at,
    cast(removed_at as {{ dbt.type_timestamp() }}) as removed_at
from {{ source('raw_acton', 'optout_history') }}
