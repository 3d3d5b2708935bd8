{#- Postgres plans each query from its tables' statistics, and a table this run built has none until autovacuum
    reaches it: at 100k Leads a mart joining two fresh models was planned blind and ran for minutes (seconds once
    analysed). So every table a Postgres build makes is analysed as it is made. DuckDB needs nothing. -#}
{% macro analyze_built_table() -%}
    {{ return(adapter.dispatch('analyze_built_table')()) }}
{%- endmacro %}

{% macro default__analyze_built_table() -%}
{%- endmacro %}

{% macro postgres__analyze_built_table() -%}
    {%- if config.get('materialized') != 'view' -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
