select
    "Id" as user_id,
    "Username" as username,
    "Name" as user_name,
    {{ email_columns('"Email"') }},
    coalesce("IsActive", false) as is_active,
    "ManagerId" as manager_id
    {{ configured_salesforce_columns('user') }}
from {{ source('raw_salesforce', 'user') }}
