{#- An Act-On list record's columns as (heading, value) pairs, in order (raw_acton.list_records.fields, the desired
    values of a list member). DuckDB holds them as a list of structs, not JSON: the diff reads every record of a
    list of a million, and DuckDB would parse each document. Postgres has no such list: a jsonb array of
    {"heading", "value"} objects, taken apart with its set-returning functions. -#}

{#- The pairs as one value; `pairs` holds [heading SQL, value SQL] each, and may be empty. -#}
{% macro heading_values(pairs) -%}
    {{ return(adapter.dispatch('heading_values')(pairs)) }}
{%- endmacro %}

{% macro duckdb__heading_values(pairs) -%}
    cast([
        {%- for heading, value in pairs %}
        {'heading': {{ heading }}, 'value': {{ value }}}{{ ',' if not loop.last }}
        {%- endfor %}
    ] as struct(heading varchar, value varchar)[])
{%- endmacro %}

{% macro postgres__heading_values(pairs) -%}
    jsonb_build_array(
        {%- for heading, value in pairs %}
        jsonb_build_object('heading', {{ heading }}, 'value', cast({{ value }} as text)){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- The pairs as the extract keeps them in raw_acton.list_records.fields: on Postgres a json column (the extract
    writes through DuckDB, which creates json, not jsonb), read as jsonb like every other pairs value. -#}
{% macro stored_heading_values(column) -%}
    {{ return(adapter.dispatch('stored_heading_values')(column)) }}
{%- endmacro %}

{% macro default__stored_heading_values(column) -%}
    {{ column }}
{%- endmacro %}

{% macro postgres__stored_heading_values(column) -%}
    cast({{ column }} as jsonb)
{%- endmacro %}

{% macro append_heading_value(pairs, heading, value) -%}
    {{ return(adapter.dispatch('append_heading_value')(pairs, heading, value)) }}
{%- endmacro %}

{% macro duckdb__append_heading_value(pairs, heading, value) -%}
    list_append({{ pairs }}, {'heading': {{ heading }}, 'value': {{ value }}})
{%- endmacro %}

{% macro postgres__append_heading_value(pairs, heading, value) -%}
    {{ pairs }} || {{ postgres__heading_values([[heading, value]]) }}
{%- endmacro %}

{#- Each desired pair beside the value the list holds under its heading, as (heading, value, listed): headings
    compare case-insensitively, as Act-On's do, and of listed headings equal but for case the first counts. -#}
{% macro beside_listed(desired, listed) -%}
    {{ return(adapter.dispatch('beside_listed')(desired, listed)) }}
{%- endmacro %}

{% macro duckdb__beside_listed(desired, listed) -%}
    list_transform({{ desired }}, lambda x: {
        'heading': x.heading,
        'value': x.value,
        'listed': list_filter({{ listed }}, lambda f: lower(f.heading) = lower(x.heading))[1].value
    })
{%- endmacro %}

{% macro postgres__beside_listed(desired, listed) -%}
    (
        select coalesce(jsonb_agg(jsonb_build_object(
            'heading', x.pair ->> 'heading',
            'value', x.pair ->> 'value',
            'listed', (
                select f.pair ->> 'value'
                from jsonb_array_elements({{ listed }}) with ordinality as f (pair, position)
                where lower(f.pair ->> 'heading') = lower(x.pair ->> 'heading')
                order by f.position
                limit 1
            )
        ) order by x.position), '[]')
        from jsonb_array_elements({{ desired }}) with ordinality as x (pair, position)
    )
{%- endmacro %}

{#- True when a column of beside_listed() has a value that the list does not hold (a blank keeps the list's). -#}
{% macro any_value_unlisted(columns) -%}
    {{ return(adapter.dispatch('any_value_unlisted')(columns)) }}
{%- endmacro %}

{% macro duckdb__any_value_unlisted(columns) -%}
    list_bool_or(list_transform({{ columns }}, lambda c: c.value is not null and c.value is distinct from c.listed))
{%- endmacro %}

{% macro postgres__any_value_unlisted(columns) -%}
    exists (
        select 1
        from jsonb_array_elements({{ columns }}) as c (pair)
        where c.pair ->> 'value' is not null and c.pair ->> 'value' is distinct from c.pair ->> 'listed'
    )
{%- endmacro %}

{#- The columns of beside_listed() as one JSON object {heading: text}, the value else the list's. -#}
{% macro heading_values_json(columns) -%}
    {{ return(adapter.dispatch('heading_values_json')(columns)) }}
{%- endmacro %}

{% macro duckdb__heading_values_json(columns) -%}
    to_json(map_from_entries(list_transform({{ columns }}, lambda c: {'k': c.heading, 'v': coalesce(c.value, c.listed)})))
{%- endmacro %}

{% macro postgres__heading_values_json(columns) -%}
    (
        select coalesce(json_object_agg(
            c.pair ->> 'heading', coalesce(c.pair ->> 'value', c.pair ->> 'listed') order by c.position
        ), '{}')
        from jsonb_array_elements({{ columns }}) with ordinality as c (pair, position)
    )
{%- endmacro %}
