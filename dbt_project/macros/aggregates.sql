{#- The median of a group (no cross-database macro in dbt): percentile_cont is the standard spelling
    (Postgres, Snowflake, Redshift, Databricks, DuckDB); BigQuery has only the window form. -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}
