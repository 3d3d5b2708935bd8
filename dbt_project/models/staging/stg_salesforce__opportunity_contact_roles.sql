select
    "Id" as opportunity_contact_role_id,
    {{ salesforce_fields(['OpportunityId', 'ContactId', 'Role']) }},
    coalesce("IsPrimary", false) as is_primary,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate']) }}
from {{ source('raw_salesforce', 'opportunitycontactrole') }}
