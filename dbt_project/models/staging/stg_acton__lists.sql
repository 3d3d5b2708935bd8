select
    list_id,
    name as list_name,
    folder_name,
    cast(size as {{ dbt.type_bigint() }}) as list_size,
    cast(last_modified_at as {{ dbt.type_timestamp() }}) as last_modified_at
from {{ source('raw_acton', 'lists') }}
