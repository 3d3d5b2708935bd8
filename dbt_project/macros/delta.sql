{#- The `delta` materialization: a table whose build writes only the rows that changed, and logs which keys
    changed so that the models reading it can recompute only those.

    A delta model is computed into a temporary table and compared with the stored table, row by row (a hash of
    every column). Rows that are no longer produced are deleted, new or changed rows are inserted, and the value
    of the model's `change_key` column (the person's email, say) of every deleted or inserted row is appended to
    sync_state.model_changes under the build's run_started_at, in the same transaction. At a million people an
    hourly build changes a few percent of the rows: writing those instead of the whole table is most of the
    saving, and the log is what lets a scoped model skip the rest.

    A `scoped: true` delta model computes only the keys its parents logged since its own last build. It may read
    only delta models, must produce the rows of a key from its parents' rows of that key alone (every parent's
    change_key names the same thing), must not read the clock, and filters each input with
    `{{ delta_scope('column') }}`. It computes every key instead, into a new table (a full build), when it has
    no build of its own, its SQL or columns changed, a parent was rebuilt since, or the log no longer reaches back
    to its last build (var delta_retention_hours). Outside `dbt build` and `dbt run` the scope is every key, so
    `dbt show` and `dbt compile` give the whole model. -#}

{% macro delta_log() -%}
    {{ return(api.Relation.create(database=target.database, schema='sync_state', identifier='model_changes')) }}
{%- endmacro %}

{#- on-run-start: one statement before any node runs (two threads creating it at once would conflict) -#}
{% macro delta_log_ensure() -%}
    create schema if not exists {{ delta_log().include(identifier=false) }};
    create table if not exists {{ delta_log() }} (
        model varchar not null,
        built_at timestamp not null,
        -- a change_key value of a deleted or inserted row; null on the one marker row of each build
        changed_key varchar,
        -- on a marker: the table was created anew, its changes not logged (readers compute every key)
        full_build boolean not null,
        -- on a marker: the hash of the model's SQL and columns; how many keys a scoped model computed (null: all)
        definition varchar,
        computed_keys bigint
    );
{%- endmacro %}

{% macro delta_scope_relation(identifier=none) -%}
    {{ return('temp.main.' ~ adapter.quote('delta_scope__' ~ (identifier or this.identifier))) }}
{%- endmacro %}

{#- In a build the predicate is marked, so that a full build can replace it with `true` (see delta_unscoped) -#}
{% macro delta_scope(column) -%}
    {%- if flags.WHICH in ('build', 'run') -%}
        /*delta_scope*/ {{ column }} in (select changed_key from {{ delta_scope_relation() }}) /*end_delta_scope*/
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro delta_unscoped(sql) -%}
    {{ return(modules.re.sub('/\\*delta_scope\\*/.*?/\\*end_delta_scope\\*/', 'true', sql, flags=modules.re.DOTALL)) }}
{%- endmacro %}

{% macro delta_model_name(relation) -%}
    {{ return(relation.schema ~ '.' ~ relation.identifier) }}
{%- endmacro %}

{#- (name, relation, change_key) of every node the model reads; each must be a delta model -#}
{% macro delta_parents() -%}
    {%- set parents = [] -%}
    {%- for unique_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node is none or node.config.materialized != 'delta' -%}
            {%- do exceptions.raise_compiler_error(
                model.name ~ " is scoped, so every model it reads must be materialized 'delta' (it logs the keys "
                ~ "that changed): " ~ unique_id ~ " is not") -%}
        {%- endif -%}
        {%- set relation = api.Relation.create(database=node.database, schema=node.schema,
                                               identifier=node.alias or node.name) -%}
        {%- do parents.append((delta_model_name(relation), relation, node.config.change_key)) -%}
    {%- endfor -%}
    {{ return(parents) }}
{%- endmacro %}

{#- true when the log holds every change of every parent since `since` (this model's last build) -#}
{% macro delta_log_covers(parents, since) -%}
    {%- set retention = var('delta_retention_hours', 48) -%}
    {%- set names = parents | map(attribute=0) | list -%}
    {%- set query -%}
        select
            count(*) filter (where not reaches_back or rebuilt) = 0
            and count(*) = {{ names | length }}
            and timestamp '{{ since }}' > timestamp '{{ run_started_at_ts() }}' - interval {{ retention }} hour
        from (
            select
                model,
                bool_or(built_at <= timestamp '{{ since }}') as reaches_back,
                bool_or(full_build and built_at > timestamp '{{ since }}') as rebuilt
            from {{ delta_log() }}
            where changed_key is null and model in ('{{ names | join("', '") }}')
            group by model
        )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}

{% macro run_started_at_ts() -%}
    {{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') }}
{%- endmacro %}

{#- the keys to compute: those the parents logged since `since` (this model's last build) -#}
{% macro delta_fill_scope(parents, since) -%}
    create or replace temp table {{ adapter.quote('delta_scope__' ~ this.identifier) }} as
    select distinct changed_key from {{ delta_log() }}
    where changed_key is not null
      and built_at > timestamp '{{ since }}'
      and model in ('{{ parents | map(attribute=0) | join("', '") }}')
{%- endmacro %}

{% macro delta_scope_size() -%}
    {{ return(run_query('select count(*) from ' ~ delta_scope_relation()).columns[0].values()[0]) }}
{%- endmacro %}

{% macro delta_columns(catalog, schema, table) -%}
    {%- set query -%}
        select column_name, data_type from duckdb_columns()
        where database_name = '{{ catalog }}' and schema_name = '{{ schema }}' and table_name = '{{ table }}'
        order by column_index
    {%- endset -%}
    {{ return(run_query(query).rows | map('list') | list) }}
{%- endmacro %}

{#- hash of a row over the target's columns, cast to the target's types so that equal rows hash equal -#}
{% macro delta_row_hash(alias, columns) -%}
    hash(struct_pack(
        {%- for name, data_type in columns %}
        {{ adapter.quote(name) }} := cast({{ alias }}.{{ adapter.quote(name) }} as {{ data_type }})
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    ))
{%- endmacro %}

{#- Replace the target's rows that differ from the temporary table's (restricted to the scope when scoped),
    and log the change_key of each row deleted or inserted. -#}
{% macro delta_apply(target_relation, temp_name, columns, change_key, scoped, built_at) -%}
    {%- set key = adapter.quote(change_key) -%}
    {%- set names = columns | map(attribute=0) | map('replace', '"', '""') | list -%}
    {%- set column_list = '"' ~ names | join('", "') ~ '"' -%}
    create or replace temp table delta_old as
        select rowid as row_id, {{ delta_row_hash('o', columns) }} as h, cast(o.{{ key }} as varchar) as k
        from {{ target_relation }} as o
        {% if scoped %}where {{ delta_scope('o.' ~ key) }}{% endif %};
    create or replace temp table delta_new as
        select rowid as row_id, {{ delta_row_hash('n', columns) }} as h, cast(n.{{ key }} as varchar) as k
        from temp.main.{{ temp_name }} as n;
    -- multisets: a row produced twice where it was stored once is a change too
    create or replace temp table delta_changed as
        (select h from delta_old except all select h from delta_new)
        union
        (select h from delta_new except all select h from delta_old);
    delete from {{ target_relation }}
        where rowid in (select row_id from delta_old where h in (select h from delta_changed));
    insert into {{ target_relation }} ({{ column_list }})
        select {{ column_list }} from temp.main.{{ temp_name }}
        where rowid in (select row_id from delta_new where h in (select h from delta_changed));
    insert into {{ delta_log() }} (model, built_at, changed_key, full_build, definition)
        select distinct '{{ delta_model_name(target_relation) }}', timestamp '{{ built_at }}', k, false, null
        from (
            select k from delta_old where h in (select h from delta_changed)
            union all
            select k from delta_new where h in (select h from delta_changed)
        )
        where k is not null;
    drop table delta_old;
    drop table delta_new;
    drop table delta_changed;
{%- endmacro %}

{% materialization delta, adapter='duckdb' -%}
    {%- set change_key = config.require('change_key') -%}
    {%- set scoped = config.get('scoped', false) -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set name = delta_model_name(target_relation) -%}
    {%- set built_at = run_started_at_ts() -%}
    {#- the SQL and the declared columns (contract types): a change of either is a full build -#}
    {%- set definition = local_md5(sql ~ tojson(model.columns)) -%}
    {%- if scoped and modules.re.search('\\b(now|current_timestamp|current_date|get_current_time)\\b', sql | lower) -%}
        {%- do exceptions.raise_compiler_error(model.name ~ " is scoped and reads the clock: its rows would "
            ~ "change without any parent's changing") -%}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set last_query -%}
        select cast(built_at as varchar), definition from {{ delta_log() }}
        where model = '{{ name }}' and changed_key is null order by built_at desc limit 1
    {%- endset -%}
    {%- set last = run_query(last_query).rows -%}
    {%- set last = last[0] if last | length > 0 else none -%}
    {%- set rebuild = existing is none or existing.is_view or should_full_refresh() -%}
    {%- set full = rebuild or last is none or last[1] != definition -%}
    {%- if scoped -%}
        {%- set parents = delta_parents() -%}
        {%- set full = full or not delta_log_covers(parents, last[0]) -%}
        {#- every key goes into a new table: comparing them all would hold the whole table in memory -#}
        {%- set rebuild = rebuild or full -%}
        {%- if not full -%}
            {%- do run_query(delta_fill_scope(parents, last[0])) -%}
            {%- set computed_keys = delta_scope_size() -%}
        {%- endif -%}
    {%- endif -%}

    {%- if not rebuild -%}
        {%- set temp_name = adapter.quote('delta_new__' ~ this.identifier) -%}
        {%- set temp_relation = api.Relation.create(identifier='delta_new__' ~ this.identifier, type='table') -%}
        {%- do run_query('drop table if exists temp.main.' ~ temp_name) -%}
        {%- do run_query(create_table_as(True, temp_relation, sql)) -%}
        {%- set columns = delta_columns(target_relation.database, target_relation.schema, target_relation.identifier) -%}
        {%- set new_columns = delta_columns('temp', 'main', 'delta_new__' ~ this.identifier) -%}
        {#- a changed column set is a full build into a new table (the types come from the model, not the old one) -#}
        {%- set rebuild = (columns | sort) != (new_columns | sort) -%}
        {%- if rebuild -%}
            {%- do run_query('drop table temp.main.' ~ temp_name) -%}
            {%- set full = true -%}
        {%- endif -%}
    {%- endif -%}
    {%- if rebuild and existing is not none -%}
        {%- do adapter.drop_relation(existing) -%}
    {%- endif -%}

    {%- call statement('main') -%}
        {%- if rebuild -%}
            {{ create_table_as(False, target_relation, delta_unscoped(sql)) }}
        {%- else -%}
            {{ delta_apply(target_relation, temp_name, columns, change_key, scoped, built_at) }}
            drop table temp.main.{{ temp_name }};
        {%- endif -%}
        ;
        insert into {{ delta_log() }} (model, built_at, changed_key, full_build, definition, computed_keys)
            values ('{{ name }}', timestamp '{{ built_at }}', null, {{ rebuild }}, '{{ definition }}',
                    {{ computed_keys if scoped and not full else 'null' }});
        delete from {{ delta_log() }}
            where model = '{{ name }}'
              and built_at < timestamp '{{ built_at }}' - interval {{ var('delta_retention_hours', 48) }} hour;
    {%- endcall -%}

    {%- if scoped -%}
        {%- do run_query('drop table if exists ' ~ delta_scope_relation()) -%}
    {%- endif -%}

    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}
