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
    coalesce("HasOptedOutOfEmail", false) as has_opted_out_of_email,
    "EmailBouncedReason" as email_bounced_reason,
    cast("EmailBouncedDate" as {{ dbt.type_timestamp() }}) as email_bounced_date,
    coalesce("IsConverted", false) as is_converted,
    "ConvertedAccountId" as converted_account_id,
    "ConvertedContactId" as converted_contact_id,
    "ConvertedOpportunityId" as converted_opportunity_id,
    cast("ConvertedDate" as date) as converted_date,
    coalesce("IsDeleted", false) as is_deleted,
    cast("CreatedDate" as {{ dbt.type_timestamp() }}) as created_at,
    cast("LastModifiedDate" as {{ dbt.type_timestamp() }}) as last_modified_at,
    "LastModifiedById" as last_modified_by_id
    {{ configured_salesforce_columns('lead') }}
from {{ source('raw_salesforce', 'lead') }}
