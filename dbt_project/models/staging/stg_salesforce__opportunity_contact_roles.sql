select
    "Id" as opportunity_contact_role_id,
    "OpportunityId" as opportunity_id,
    "ContactId" as contact_id,
    "Role" as role,
    coalesce("IsPrimary", false) as is_primary,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate']) }}
from {{ source('raw_salesforce', 'opportunitycontactrole') }}
