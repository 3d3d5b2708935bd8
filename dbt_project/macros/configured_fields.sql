{#- Fields named in sync.yaml (score field, prospect fields, list mappings, report mapping) are Salesforce API
    names. Staging carries each of them under cfg__<snake_case name>, so a custom or renamed field never
    collides with a standard column, and models read them through cfg_column(). -#}
{% macro cfg_column(api_name) -%}
    cfg__{{ modules.re.sub('([a-z0-9])([A-Z])', '\\1_\\2', api_name) | lower }}
{%- endmacro %}

{#- A configured field's value as `type` (of `relation` when given); null when sync.yaml sets the field to null,
    which the staging models then do not read, so the org need not have it. -#}
{% macro cfg_value(api_name, type, relation=none) -%}
    {%- if api_name is none -%}
        cast(null as {{ type }})
    {%- else -%}
        cast({{ relation ~ '.' if relation }}{{ cfg_column(api_name) }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{% macro configured_salesforce_columns(table) -%}
    {%- for api_name in var('salesforce_configured_fields')[table] %}
    , {{ adapter.quote(api_name) }} as {{ cfg_column(api_name) }}
    {%- endfor %}
{%- endmacro %}

{#- Act-On trims what it is sent and stores blanks as empty: compare in that form, or padded values resend forever. -#}
{% macro list_value(expr) -%}
    nullif({{ trim_whitespace(expr) }}, '')
{%- endmacro %}

{#- One SQL expression for a list column: "Field" on the record, "Account.Field" / "Owner.Field" on the lookup. -#}
{% macro list_field(list_config, heading) -%}
    {%- set path = list_config['fields'].get(heading) -%}
    {%- if path is none -%}
        cast(null as {{ dbt.type_string() }})
    {%- elif '.' in path -%}
        {%- set lookup, field = path.split('.') -%}
        {{ list_value("cast(" ~ ('account' if lookup == 'Account' else 'owner') ~ "." ~ cfg_column(field) ~ " as " ~ dbt.type_string() ~ ")") }}
    {%- else -%}
        {{ list_value("cast(rec." ~ cfg_column(path) ~ " as " ~ dbt.type_string() ~ ")") }}
    {%- endif -%}
{%- endmacro %}

{#- The configured lists as rows, so SQL can join on list name, object and direction. -#}
{% macro configured_lists() -%}
    {%- for lst in var('acton_lists') %}
    select
        {{ sql_string(lst['name']) }} as list_name,
        {{ sql_string(lst['object']) }} as salesforce_object,
        {{ sql_string(lst['direction']) }} as direction
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro sql_string(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{#- Objects whose list pushes to Salesforce (score write-back), or pulls from it (list maintenance). -#}
{% macro list_objects(directions) -%}
    {%- set objects = [] -%}
    {%- for lst in var('acton_lists') if lst['direction'] in directions and lst['object'] not in objects -%}
        {%- do objects.append(lst['object']) -%}
    {%- endfor -%}
    {{ return(objects) }}
{%- endmacro %}

{% macro sql_in_list(values) -%}
    ({%- for v in values %}{{ sql_string(v) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    {%- if values | length == 0 %}null{% endif -%})
{%- endmacro %}
