select
    "Id" as opportunity_history_id,
    {{ salesforce_fields(['OpportunityId', 'StageName']) }},
    cast("Amount" as {{ type_double() }}) as amount,
    cast("CloseDate" as date) as close_date,
    cast("Probability" as {{ type_double() }}) as probability,
    "ForecastCategory" as forecast_category,
    {{ salesforce_system_columns(['IsDeleted', 'CreatedDate']) }}
from {{ source('raw_salesforce', 'opportunityhistory') }}
