{#- The column a Salesforce API name stages as where no model renames it: snake case (LeadSource -> lead_source,
    ConvertedAccountId -> converted_account_id), the name analysts can guess from Salesforce's. -#}
{% macro snake_case(api_name) -%}
    {{ modules.re.sub('([a-z0-9])([A-Z])', '\\1_\\2', api_name) | lower }}
{%- endmacro %}

{#- A run of Salesforce fields staged as they are, each under its snake_case name, in the order given. -#}
{% macro salesforce_fields(api_names) -%}
    {%- for api_name in api_names %}
    {{ adapter.quote(api_name) }} as {{ snake_case(api_name) }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Salesforce's system fields as the staging models carry them, named by `fields` (API names, in the model's
    column order): IsDeleted false when null, the dates as timestamps. -#}
{% macro salesforce_system_columns(fields) -%}
    {%- set columns = {
        'IsDeleted': 'coalesce("IsDeleted", false) as is_deleted',
        'CreatedDate': 'cast("CreatedDate" as ' ~ dbt.type_timestamp() ~ ') as created_at',
        'LastModifiedDate': 'cast("LastModifiedDate" as ' ~ dbt.type_timestamp() ~ ') as last_modified_at',
        'LastModifiedById': '"LastModifiedById" as last_modified_by_id',
    } -%}
    {%- for field in fields %}
    {%- if field not in columns -%}
        {{ exceptions.raise_compiler_error(field ~ ' is not one of the system fields staged: ' ~ columns | join(', ')) }}
    {%- endif %}
    {{ columns[field] }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- A person's email standing on a Lead or Contact: the opt-out the opt-out sync reads and writes, and the bounce the
    bounce write-back sets from Act-On's hard bounces. -#}
{% macro salesforce_email_status_columns() -%}
    coalesce("HasOptedOutOfEmail", false) as has_opted_out_of_email,
    "EmailBouncedReason" as email_bounced_reason,
    cast("EmailBouncedDate" as {{ dbt.type_timestamp() }}) as email_bounced_date
{%- endmacro %}
