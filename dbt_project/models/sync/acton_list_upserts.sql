{#- List records to upsert into Act-On (lists whose direction pulls from Salesforce): only emails not yet in the
    list, or whose Salesforce Id or a configured column's value differs from what the list carries (headings
    compared case-insensitively, as Act-On does). field_values holds every configured column but Email as
    {heading: text}; the values are complete (a Salesforce blank, or no score, keeps the list's current value);
    Lead Score is the behavioural score. -#}
with existing as (
    select
        l.list_name,
        lr.list_id,
        lr.record_id,
        lr.email,
        lr.salesforce_id,
        lr.fields,
        -- Act-On's upsert by email updates the first record with that email
        row_number() over (partition by lr.list_id, lr.email order by lr.created_at, lr.record_id) as position
    from {{ ref('stg_acton__list_records') }} as lr
    inner join {{ ref('stg_acton__lists') }} as l on l.list_id = lr.list_id
    where not lr.is_deleted
),

lists as (
    select list_name, min(list_id) as list_id
    from {{ ref('stg_acton__lists') }}
    group by list_name
),

members as (
    select
        d.list_member_id,
        d.list_name,
        lists.list_id,
        e.record_id,
        d.email,
        d.salesforce_object,
        d.salesforce_id,
        e.salesforce_id as listed_salesforce_id,
        e.fields as listed_fields,
        d.field_values
    from {{ ref('int_acton_list_members_desired') }} as d
    left join lists on lists.list_name = d.list_name
    left join existing as e on e.list_id = lists.list_id and e.email = d.email and e.position = 1
    where d.direction in ('pull', 'both')
),

desired_values as (
    select list_member_id, listed_fields, unnest(field_values, recursive := true)
    from members
),

listed_values as (
    select m.list_member_id, lower(j.key) as heading_key, j.value ->> '$' as value
    from members as m, json_each(m.listed_fields) as j
),

compared as (
    select
        d.list_member_id,
        bool_or(d.value is not null and d.value is distinct from l.value) as differs,
        json_group_object(d.heading, coalesce(d.value, l.value)) as field_values
    from desired_values as d
    left join listed_values as l on l.list_member_id = d.list_member_id and l.heading_key = lower(d.heading)
    group by d.list_member_id
),

changes as (
    select
        m.*,
        coalesce(c.field_values, cast('{}' as json)) as values_sent,
        case
            when m.record_id is null then 'insert'
            when m.salesforce_id is distinct from m.listed_salesforce_id or c.differs then 'update'
        end as change_type
    from members as m
    left join compared as c on c.list_member_id = m.list_member_id
)

select
    list_member_id,
    list_name,
    list_id,
    record_id,
    change_type,
    email,
    salesforce_object,
    salesforce_id,
    cast(values_sent as json) as field_values
from changes
where change_type is not null
