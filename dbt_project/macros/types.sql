{#- Scores and money as 8-byte floats: dbt.type_float() is a 4-byte FLOAT on DuckDB. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ dbt.type_float() }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{#- A score as Salesforce's number(6,0) field holds it: whole, halves away from zero. Postgres rounds a double's
    halves to even, a numeric's away from zero. -#}
{% macro round_whole(expr) -%}
    {{ return(adapter.dispatch('round_whole')(expr)) }}
{%- endmacro %}

{% macro default__round_whole(expr) -%}
    round({{ expr }}, 0)
{%- endmacro %}

{% macro postgres__round_whole(expr) -%}
    cast(round(cast({{ expr }} as numeric), 0) as double precision)
{%- endmacro %}

{#- A whole double as digits, without exponent. Postgres casts a double to numeric at 15 significant digits; through
    its shortest text (which reads back as the same double) every digit is kept. -#}
{% macro whole_number_text(expr) -%}
    {{ return(adapter.dispatch('whole_number_text')(expr)) }}
{%- endmacro %}

{% macro duckdb__whole_number_text(expr) -%}
    cast(cast({{ expr }} as hugeint) as varchar)
{%- endmacro %}

{% macro postgres__whole_number_text(expr) -%}
    cast(cast(cast({{ expr }} as text) as numeric) as text)
{%- endmacro %}
