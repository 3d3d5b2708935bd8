{#- On Postgres, the analysts' role (WAREHOUSE_PG_ANALYSTS_ROLE) may look into the schema: dbt's grants give select
    on each relation, not usage on its schema. Nothing on DuckDB, or without the role. -#}
{% macro grant_schema_usage_to_analysts(schema) -%}
    {%- set role = env_var('WAREHOUSE_PG_ANALYSTS_ROLE', '') -%}
    {%- if target.type == 'postgres' and role -%}
        grant usage on schema {{ schema }} to {{ role }}
    {%- endif -%}
{%- endmacro %}
