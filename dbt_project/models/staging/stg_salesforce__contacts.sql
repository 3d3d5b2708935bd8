select
    "Id" as contact_id,
    "AccountId" as account_id,
    "FirstName" as first_name,
    "LastName" as last_name,
    {{ email_columns('"Email"') }},
    "Title" as title,
    "LeadSource" as lead_source,
    "OwnerId" as owner_id,
    {{ salesforce_email_status_columns() }},
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate', 'LastModifiedDate', 'LastModifiedById']) }}
    {{ configured_salesforce_columns('contact') }}
from {{ source('raw_salesforce', 'contact') }}
