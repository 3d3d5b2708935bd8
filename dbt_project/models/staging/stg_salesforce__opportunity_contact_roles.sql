select
    "Id" as opportunity_contact_role_id,
    "OpportunityId" as opportunity_id,
    "ContactId" as contact_id,
    "Role" as role,
    coalesce("IsPrimary", false) as is_primary,
    coalesce("IsDeleted", false) as is_deleted,
    cast("CreatedDate" as {{ dbt.type_timestamp() }}) as created_at
from {{ source('raw_salesforce', 'opportunitycontactrole') }}
