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
        d.field_values
    from {{ ref('int_acton_list_members_desired') }} as d
    left join lists on lists.list_name = d.list_name
    left join existing as e on e.list_id = lists.list_id and e.email = d.email and e.position = 1
    where d.direction in ('pull', 'both')
),

-- the diff reads each configured column once per member, in long form: a row per member and heading
desired_values as (
    select list_member_id, record_id, unnest(field_values, recursive := true)
    from members
),

listed_values as (
    select record_id, lower(heading) as heading_key, value
    from (select record_id, unnest(fields, recursive := true) from {{ ref('stg_acton__list_records') }})
    where record_id in (select record_id from members)
),

compared as (
    select
        d.list_member_id,
        d.heading,
        coalesce(d.value, l.value) as value,
        d.value is not null and d.value is distinct from l.value as differs
    from desired_values as d
    left join listed_values as l on l.record_id = d.record_id and l.heading_key = lower(d.heading)
),

changes as (
    select
        m.*,
        case
            when m.record_id is null then 'insert'
            when m.salesforce_id is distinct from m.listed_salesforce_id
                or m.list_member_id in (select list_member_id from compared where differs)
                then 'update'
        end as change_type
    from members as m
),

sent_values as (
    select list_member_id, json_group_object(heading, value) as field_values
    from compared
    where list_member_id in (select list_member_id from changes where change_type is not null)
    group by list_member_id
)

select
    c.list_member_id,
    c.list_name,
    c.list_id,
    c.record_id,
    c.change_type,
    c.email,
    c.salesforce_object,
    c.salesforce_id,
    coalesce(s.field_values, cast('{}' as json)) as field_values
from changes as c
left join sent_values as s on s.list_member_id = c.list_member_id
where c.change_type is not null
