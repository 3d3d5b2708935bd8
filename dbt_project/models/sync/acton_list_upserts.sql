{#- List records to upsert into Act-On (lists whose direction pulls from Salesforce): only emails not yet in the
    list, or whose record differs from what the list should carry. Values are complete (a column the list does
    not map, or a Salesforce blank, keeps the list's current value); Lead Score is the behavioural score. -#}
with existing as (
    select
        l.list_name,
        lr.list_id,
        lr.record_id,
        lr.email,
        lr.salesforce_id,
        lr.first_name,
        lr.last_name,
        lr.company,
        lr.salesforce_owner,
        lr.lead_score,
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

compared as (
    select
        d.list_member_id,
        d.list_name,
        lists.list_id,
        e.record_id,
        d.email,
        d.salesforce_object,
        d.salesforce_id,
        coalesce(d.first_name, e.first_name) as first_name,
        coalesce(d.last_name, e.last_name) as last_name,
        coalesce(d.company, e.company) as company,
        coalesce(d.salesforce_owner, e.salesforce_owner) as salesforce_owner,
        coalesce(d.lead_score, e.lead_score) as lead_score,
        case
            when e.record_id is null then 'insert'
            when d.salesforce_id is distinct from e.salesforce_id
                or (d.first_name is not null and d.first_name is distinct from e.first_name)
                or (d.last_name is not null and d.last_name is distinct from e.last_name)
                or (d.company is not null and d.company is distinct from e.company)
                or (d.salesforce_owner is not null and d.salesforce_owner is distinct from e.salesforce_owner)
                or (d.lead_score is not null and d.lead_score is distinct from e.lead_score)
                then 'update'
        end as change_type
    from {{ ref('int_acton_list_members_desired') }} as d
    left join lists on lists.list_name = d.list_name
    left join existing as e on e.list_id = lists.list_id and e.email = d.email and e.position = 1
    where d.direction in ('pull', 'both')
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
    first_name,
    last_name,
    company,
    salesforce_owner,
    cast(lead_score as {{ type_double() }}) as lead_score
from compared
where change_type is not null
