select
    "Id" as lead_id,
    "FirstName" as first_name,
    "LastName" as last_name,
    {{ email_columns('"Email"') }},
    "Company" as company,
    "Title" as title,
    "LeadSource" as lead_source,
    "Status" as status,
    "OwnerId" as owner_id,
    {{ salesforce_email_status_columns() }},
    coalesce("IsConverted", false) as is_converted,
    "ConvertedAccountId" as converted_account_id,
    "ConvertedContactId" as converted_contact_id,
    "ConvertedOpportunityId" as converted_opportunity_id,
    cast("ConvertedDate" as date) as converted_date,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate', 'LastModifiedDate', 'LastModifiedById']) }}
    {{ configured_salesforce_columns('lead') }}
from {{ source('raw_salesforce', 'lead') }}
