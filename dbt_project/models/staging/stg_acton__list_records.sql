select
    record_id,
    list_id,
    {{ email_columns('email') }},
    salesforce_id,
    coalesce({{ stored_heading_values('fields') }}, {{ heading_values([]) }}) as fields,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(modified_at as {{ dbt.type_timestamp() }}) as modified_at,
    coalesce(is_deleted, false) as is_deleted
from {{ source('raw_acton', 'list_records') }}
