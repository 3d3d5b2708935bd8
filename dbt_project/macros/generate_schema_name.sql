{#- Schemas are exactly staging / intermediate / marts / sync (the write-back and analysts read them by name),
    not dbt's default "<target schema>_<custom schema>". -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
