{#- The cost fields are read through the report mapping (report_mapping.campaign_cost, roi_report). -#}
select
    "Id" as campaign_id,
    "Name" as campaign_name,
    "Type" as campaign_type,
    "Status" as status,
    cast("StartDate" as date) as start_date,
    cast("EndDate" as date) as end_date,
    "ParentId" as parent_campaign_id,
    cast("ExpectedRevenue" as {{ type_double() }}) as expected_revenue,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate']) }}
    {{ configured_salesforce_columns('campaign') }}
from {{ source('raw_salesforce', 'campaign') }}
