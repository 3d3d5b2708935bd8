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
        -- each configured column beside the list's column of that heading: looked up in the record's own short
        -- list of columns (a list of a million records: five times faster than unnesting both sides and joining)
        {{ beside_listed('d.field_values', 'e.fields') }} as columns
    from {{ ref('int_acton_list_members_desired') }} as d
    left join lists on lists.list_name = d.list_name
    left join existing as e on e.list_id = lists.list_id and e.email = d.email and e.position = 1
    where d.direction in ('pull', 'both')
),

changes as (
    select
        *,
        case
            when record_id is null then 'insert'
            when salesforce_id is distinct from listed_salesforce_id
                or {{ any_value_unlisted('columns') }}
                then 'update'
        end as change_type
    from members
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
    {{ heading_values_json('columns') }} as field_values
from changes
where change_type is not null
