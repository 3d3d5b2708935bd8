{#- Act-On unified contacts and list records, each matched to a person: a list record by its Salesforce Id
    (the record it was synced from, even if the email changed since), else by normalised email. A list record
    of a deleted Salesforce record is no one's: it is on its way out of the list (acton_list_removals). -#}
with salesforce as (
    select salesforce_id, person_email, is_deleted
    from {{ ref('int_salesforce_records_unioned') }}
),

list_records as (
    select
        'list_record' as acton_source,
        lr.record_id as acton_record_id,
        lr.list_id,
        coalesce(sf.person_email, case when lr.is_valid_email then lr.email end) as person_email,
        case when sf.person_email is not null then 'salesforce_id' else 'email' end as matched_by,
        cast(null as {{ type_double() }}) as behavioural_score,
        lr.created_at,
        lr.modified_at as updated_at
    from {{ ref('stg_acton__list_records') }} as lr
    left join salesforce as sf on sf.salesforce_id = lr.salesforce_id
    where not lr.is_deleted and not coalesce(sf.is_deleted, false)
),

contacts as (
    select
        'contact' as acton_source,
        contact_id as acton_record_id,
        cast(null as {{ dbt.type_string() }}) as list_id,
        email as person_email,
        'email' as matched_by,
        behavioural_score,
        created_at,
        updated_at
    from {{ ref('stg_acton__contacts') }}
    where is_valid_email
)

select * from list_records where person_email is not null
union all
select * from contacts
