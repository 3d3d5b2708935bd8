{#- Emails are compared normalised (surrounding whitespace - spaces, tabs, newlines - removed, lower-cased);
    valid = something@something.tld without spaces. writeback.emails.normalise_email is the same rule. -#}
{% macro normalised_email(expr) -%}
    lower({{ trim_whitespace(expr) }})
{%- endmacro %}

{#- SQL's trim() removes spaces only; Act-On and Salesforce users also leave tabs and newlines around values. -#}
{% macro trim_whitespace(expr) -%}
    {{ return(adapter.dispatch('trim_whitespace')(expr)) }}
{%- endmacro %}

{% macro default__trim_whitespace(expr) -%}
    regexp_replace({{ expr }}, '^[[:space:]]+|[[:space:]]+$', '', 'g')
{%- endmacro %}

{% macro email_columns(expr) -%}
    {{ expr }} as email_raw,
    {{ normalised_email(expr) }} as email,
    coalesce({{ regexp_like(normalised_email(expr), '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$') }}, false)
        as is_valid_email
{%- endmacro %}

{#- No cross-database regex macro in dbt: regexp_like is the common spelling (Snowflake, Databricks, Oracle). -#}
{% macro regexp_like(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_like')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(expr, pattern) -%}
    regexp_like({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regexp_like(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regexp_like(expr, pattern) -%}
    ({{ expr }} ~ '{{ pattern }}')
{%- endmacro %}
