{#- Amount, stage, dates and flags are read through the report mapping (int_opportunities_mapped). -#}
select
    "Id" as opportunity_id,
    "Name" as opportunity_name,
    {{ salesforce_fields(['AccountId', 'OwnerId', 'ContactId']) }},
    "Type" as opportunity_type,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate', 'LastModifiedDate']) }}
    {{ configured_salesforce_columns('opportunity') }}
from {{ source('raw_salesforce', 'opportunity') }}
