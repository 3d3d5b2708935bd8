{#- The time of this observation (score, lead status, opt-out history): var observed_at when the run pins it,
    else now, as a naive UTC timestamp like every timestamp of the warehouse. -#}
{% macro observed_at() -%}
    {%- if var('observed_at', none) is not none -%}
        cast('{{ var("observed_at") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {{ adapter.dispatch('utc_now')() }}
    {%- endif -%}
{%- endmacro %}

{#- DuckDB and Postgres spell it alike; a cast of now() alone would take the session's time zone. -#}
{% macro default__utc_now() -%}
    cast(timezone('UTC', now()) as timestamp)
{%- endmacro %}

{#- The earlier of two timestamps, null only when both are (least() treats nulls differently per database). -#}
{% macro earlier(a, b) -%}
    case when {{ a }} is null then {{ b }} when {{ b }} is null or {{ a }} <= {{ b }} then {{ a }} else {{ b }} end
{%- endmacro %}

{#- A text value read from a JSON column (Act-On contact fields). -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    json_extract_path_text({{ column }}, '{{ key }}')
{%- endmacro %}

{#- Postgres: the contact fields are jsonb, which json_extract_path_text does not take -#}
{% macro postgres__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$."{{ key }}"')
{%- endmacro %}

{#- A timestamp as text in the form the Salesforce write-back sends and records (writeback/state.py as_text):
    ISO 8601 UTC with milliseconds and Z, e.g. 2024-03-20T09:00:00.000Z. -#}
{% macro salesforce_datetime_text(ts) -%}
    {{ return(adapter.dispatch('salesforce_datetime_text')(ts)) }}
{%- endmacro %}

{% macro default__salesforce_datetime_text(ts) -%}
    to_char({{ ts }}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
{%- endmacro %}

{% macro duckdb__salesforce_datetime_text(ts) -%}
    strftime({{ ts }}, '%Y-%m-%dT%H:%M:%S.%gZ')
{%- endmacro %}
