select
    "Id" as campaign_member_id,
    {{ salesforce_fields(['CampaignId', 'LeadId', 'ContactId', 'Status']) }},
    coalesce("HasResponded", false) as has_responded,
    cast("FirstRespondedDate" as date) as first_responded_date,
    {{ email_columns('"Email"') }},
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate']) }}
from {{ source('raw_salesforce', 'campaignmember') }}
