select
    "Id" as campaign_member_id,
    "CampaignId" as campaign_id,
    "LeadId" as lead_id,
    "ContactId" as contact_id,
    "Status" as status,
    coalesce("HasResponded", false) as has_responded,
    cast("FirstRespondedDate" as date) as first_responded_date,
    {{ email_columns('"Email"') }},
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate']) }}
from {{ source('raw_salesforce', 'campaignmember') }}
