select
    "Id" as contact_id,
    "AccountId" as account_id,
    "FirstName" as first_name,
    "LastName" as last_name,
    {{ email_columns('"Email"') }},
    "Title" as title,
    "LeadSource" as lead_source,
    "OwnerId" as owner_id,
    coalesce("HasOptedOutOfEmail", false) as has_opted_out_of_email,
    "EmailBouncedReason" as email_bounced_reason,
    cast("EmailBouncedDate" as {{ dbt.type_timestamp() }}) as email_bounced_date,
    coalesce("IsDeleted", false) as is_deleted,
    cast("CreatedDate" as {{ dbt.type_timestamp() }}) as created_at,
    cast("LastModifiedDate" as {{ dbt.type_timestamp() }}) as last_modified_at,
    "LastModifiedById" as last_modified_by_id
    {{ configured_salesforce_columns('contact') }}
from {{ source('raw_salesforce', 'contact') }}
