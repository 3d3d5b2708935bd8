{#- Records to delete from Act-On lists (lists whose direction pulls from Salesforce): records that came from
    Salesforce (linked by Salesforce Id or email to a record of the list's object) but that the list should no
    longer hold: the lead was converted (it now lives in the Contacts list), the record was deleted, or the
    record's email changed (the new email is upserted by acton_list_upserts). Act-On-only records stay. -#}
with lists as (
    {{ configured_lists() }}
),

desired as (
    select list_name, email from {{ ref('int_acton_list_members_desired') }}
),

candidates as (
    select l.list_name, l.salesforce_object, lr.list_id, lr.record_id, lr.email, lr.salesforce_id
    from {{ ref('stg_acton__list_records') }} as lr
    inner join {{ ref('stg_acton__lists') }} as al on al.list_id = lr.list_id
    inner join lists as l on l.list_name = al.list_name
    left join desired as d on d.list_name = l.list_name and d.email = lr.email
    where not lr.is_deleted and l.direction in ('pull', 'both') and d.email is null
),

linked as (
    select
        c.list_name,
        c.list_id,
        c.record_id,
        c.email,
        c.salesforce_id,
        max(case when r.is_converted then 1 else 0 end) as any_converted,
        min(case when r.is_deleted then 1 else 0 end) as all_deleted
    from candidates as c
    inner join {{ ref('int_salesforce_records_unioned') }} as r
        on r.salesforce_object = c.salesforce_object
        and (r.salesforce_id = c.salesforce_id or (r.is_valid_email and r.email = c.email))
    group by c.list_name, c.list_id, c.record_id, c.email, c.salesforce_id
)

select
    record_id,
    list_name,
    list_id,
    email,
    salesforce_id,
    case
        when any_converted = 1 then 'converted'
        when all_deleted = 1 then 'deleted'
        else 'email_changed'
    end as reason
from linked
