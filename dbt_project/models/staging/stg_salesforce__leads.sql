select
    "Id" as lead_id,
    {{ salesforce_fields(['FirstName', 'LastName']) }},
    {{ email_columns('"Email"') }},
    {{ salesforce_fields(['Company', 'Title', 'LeadSource', 'Status', 'OwnerId']) }},
    {{ salesforce_email_status_columns() }},
    coalesce("IsConverted", false) as is_converted,
    {{ salesforce_fields(['ConvertedAccountId', 'ConvertedContactId', 'ConvertedOpportunityId']) }},
    cast("ConvertedDate" as date) as converted_date,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate', 'LastModifiedDate', 'LastModifiedById']) }}
    {{ configured_salesforce_columns('lead') }}
from {{ source('raw_salesforce', 'lead') }}
