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

{#- A group's non-null values in ascending order joined by the delimiter, null when it has none. DuckDB's
    ordered string_agg runs a sort per aggregate (half a second at 100k people); sorting the collected list
    gives the same string several times faster. -#}
{% macro sorted_listagg(expr, delimiter) -%}
    {{ return(adapter.dispatch('sorted_listagg')(expr, delimiter)) }}
{%- endmacro %}

{% macro default__sorted_listagg(expr, delimiter) -%}
    {{ dbt.listagg(expr, delimiter, 'order by ' ~ expr) }}
{%- endmacro %}

{% macro duckdb__sorted_listagg(expr, delimiter) -%}
    case when count({{ expr }}) > 0 then
        array_to_string(list_sort(list({{ expr }}) filter (where {{ expr }} is not null)), {{ delimiter }})
    end
{%- endmacro %}

{#- A sum of floats that does not depend on the order its rows arrive in: DuckDB's parallel aggregate adds them in
    another order each build, and the last bits of money and of credited fractions moved between builds of the
    same data. Adding the group's values in ascending order gives the same float every time. -#}
{% macro ordered_sum(expr) -%}
    {{ return(adapter.dispatch('ordered_sum')(expr)) }}
{%- endmacro %}

{% macro default__ordered_sum(expr) -%}
    sum({{ expr }})
{%- endmacro %}

{% macro duckdb__ordered_sum(expr) -%}
    list_sum(list_sort(list({{ expr }}) filter (where {{ expr }} is not null)))
{%- endmacro %}
