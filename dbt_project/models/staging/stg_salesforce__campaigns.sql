select
    "Id" as campaign_id,
    "Name" as campaign_name,
    "Type" as campaign_type,
    "Status" as status,
    cast("StartDate" as date) as start_date,
    cast("EndDate" as date) as end_date,
    "ParentId" as parent_campaign_id,
    cast("BudgetedCost" as {{ type_double() }}) as budgeted_cost,
    cast("ActualCost" as {{ type_double() }}) as actual_cost,
    cast("ExpectedRevenue" as {{ type_double() }}) as expected_revenue,
    coalesce("IsDeleted", false) as is_deleted,
    cast("CreatedDate" as {{ dbt.type_timestamp() }}) as created_at
from {{ source('raw_salesforce', 'campaign') }}
