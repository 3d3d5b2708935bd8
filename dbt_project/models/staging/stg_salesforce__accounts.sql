select
    "Id" as account_id,
    "Name" as account_name,
    "Type" as account_type,
    "Industry" as industry,
    "OwnerId" as owner_id,
    coalesce("IsDeleted", false) as is_deleted,
    cast("CreatedDate" as {{ dbt.type_timestamp() }}) as created_at,
    cast("LastModifiedDate" as {{ dbt.type_timestamp() }}) as last_modified_at
    {{ configured_salesforce_columns('account') }}
from {{ source('raw_salesforce', 'account') }}
