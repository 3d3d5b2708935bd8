{#- Fields named in sync.yaml (score field, prospect fields, list mappings, report mapping) are Salesforce API
    names. Staging carries each of them under cfg__<snake_case name>, so a custom or renamed field never
    collides with a standard column, and models read them through cfg_column(). -#}
{% macro cfg_column(api_name) -%}
    cfg__{{ snake_case(api_name) }}
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
    nullif({{ trim_whitespace(list_text(expr)) }}, '')
{%- endmacro %}

{#- A Salesforce value as a list column carries it (README, "Values in a list"): booleans true/false, dates
    YYYY-MM-DD, datetimes ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ), numbers without exponent or thousands separators
    (whole ones without decimals), picklists and multi-picklists (a;b) as Salesforce sends them. The raw column's
    type decides, read at run time because a field's type is the org's; every branch takes the value as text
    (the text of a double or timestamp is exact), so each binds whatever the column's type. -#}
{% macro list_text(expr) -%}
    {{ return(adapter.dispatch('list_text')(expr)) }}
{%- endmacro %}

{% macro duckdb__list_text(expr) -%}
    case typeof({{ expr }})
        when 'TIMESTAMP' then strftime(try_cast(cast({{ expr }} as varchar) as timestamp), '%Y-%m-%dT%H:%M:%SZ')
        when 'DOUBLE' then {{ list_number("try_cast(cast(" ~ expr ~ " as varchar) as double)") }}
        else cast({{ expr }} as varchar)
    end
{%- endmacro %}

{% macro postgres__list_text(expr) -%}
    case pg_typeof({{ expr }})
        when 'timestamp'::regtype
            then to_char(cast(cast({{ expr }} as text) as timestamp), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        when 'double precision'::regtype
            then {{ list_number("cast(cast(" ~ expr ~ " as text) as double precision)") }}
        else cast({{ expr }} as text)
    end
{%- endmacro %}

{% macro list_number(expr) -%}
    case
        when {{ expr }} = trunc({{ expr }}) and abs({{ expr }}) < 1e37 then {{ whole_number_text(expr) }}
        when {{ dbt.position("'e'", "cast(" ~ expr ~ " as varchar)") }} > 0
            then rtrim(rtrim(cast(cast({{ expr }} as decimal(38, 18)) as varchar), '0'), '.')
        else cast({{ expr }} as varchar)
    end
{%- endmacro %}

{#- One SQL expression for a list column: "Field" on the record, "Account.Field" / "Owner.Field" on the lookup. -#}
{% macro list_field(list_config, heading) -%}
    {%- set path = list_config['fields'][heading] -%}
    {%- if '.' in path -%}
        {%- set lookup, field = path.split('.') -%}
        {{ list_value(('account' if lookup == 'Account' else 'owner') ~ "." ~ cfg_column(field)) }}
    {%- else -%}
        {{ list_value("rec." ~ cfg_column(path)) }}
    {%- endif -%}
{%- endmacro %}

{#- The columns a list fills from Salesforce, as a list of {heading, value}: every mapped heading but Email (the
    merge key, its own column) and Lead Score (the behavioural score, added from Act-On's side). -#}
{% macro list_field_values(list_config) -%}
    {%- set pairs = [] -%}
    {%- for heading in list_config['fields'] if heading != 'Email' and heading != list_config['lead_score_heading'] -%}
        {%- do pairs.append([sql_string(heading), list_field(list_config, heading)]) -%}
    {%- endfor -%}
    {{ heading_values(pairs) }}
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
