select
    "Id" as contact_id,
    {{ salesforce_fields(['AccountId', 'FirstName', 'LastName']) }},
    {{ email_columns('"Email"') }},
    {{ salesforce_fields(['Title', 'LeadSource', 'OwnerId']) }},
    {{ salesforce_email_status_columns() }},
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate', 'LastModifiedDate', 'LastModifiedById']) }}
    {{ configured_salesforce_columns('contact') }}
from {{ source('raw_salesforce', 'contact') }}
