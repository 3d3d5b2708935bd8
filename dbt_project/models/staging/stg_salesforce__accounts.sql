select
    "Id" as account_id,
    "Name" as account_name,
    "Type" as account_type,
    {{ salesforce_fields(['Industry', 'OwnerId']) }},
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate', 'LastModifiedDate']) }}
    {{ configured_salesforce_columns('account') }}
from {{ source('raw_salesforce', 'account') }}
