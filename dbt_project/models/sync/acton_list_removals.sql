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

records as (
    select salesforce_object, salesforce_id, is_valid_email, email, is_converted, is_deleted
    from {{ ref('int_salesforce_records_unioned') }}
),

{#- by Id, or by email: two equi-joins, since one join on "id or email" compares every candidate with every
    record of the object (26 s at 1M Leads for an hour's changes) -#}
matched as (
    select c.*, r.is_converted, r.is_deleted
    from candidates as c
    inner join records as r on r.salesforce_object = c.salesforce_object and r.salesforce_id = c.salesforce_id

    union all

    select c.*, r.is_converted, r.is_deleted
    from candidates as c
    inner join records as r
        on r.salesforce_object = c.salesforce_object and r.is_valid_email and r.email = c.email
),

linked as (
    select
        list_name,
        list_id,
        record_id,
        email,
        salesforce_id,
        max(case when is_converted then 1 else 0 end) as any_converted,
        min(case when is_deleted then 1 else 0 end) as all_deleted
    from matched
    group by list_name, list_id, record_id, email, salesforce_id
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
