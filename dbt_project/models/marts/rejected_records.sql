{#- Records that cannot sync, each with its reason:
    missing email / invalid email: a live Lead or Contact, Act-On contact or list record without a valid email
        (it never reaches a list or a person);
    ambiguous match: an Act-On list record whose Salesforce Id and email name two different people, or a second
        record with the same email in one list (Act-On's upsert by email updates only the first). -#}
with salesforce_invalid as (
    select
        'salesforce' as source_system,
        salesforce_object as source_object,
        salesforce_id as record_id,
        email_raw,
        cast(null as {{ dbt.type_string() }}) as detail
    from {{ ref('int_salesforce_records_unioned') }}
    where not is_deleted and person_email is null
),

acton_contacts_invalid as (
    select 'acton', 'contact', contact_id, email_raw, cast(null as {{ dbt.type_string() }})
    from {{ ref('stg_acton__contacts') }}
    where not is_valid_email
),

list_records as (
    select
        lr.*,
        row_number() over (partition by lr.list_id, lr.email order by lr.created_at, lr.record_id) as position
    from {{ ref('stg_acton__list_records') }} as lr
    where not lr.is_deleted
),

list_records_invalid as (
    select 'acton', 'list_record', record_id, email_raw, cast(null as {{ dbt.type_string() }})
    from list_records
    where not is_valid_email
),

salesforce_people as (
    select salesforce_id, person_email
    from {{ ref('int_salesforce_records_unioned') }}
    where not is_deleted and person_email is not null
),

list_records_split as (
    select distinct
        'acton',
        'list_record',
        lr.record_id,
        lr.email_raw,
        {{ dbt.concat(["'Salesforce Id '", "lr.salesforce_id", "' is '", "by_id.person_email",
                       "', the email is another person'"]) }}
    from list_records as lr
    inner join salesforce_people as by_id on by_id.salesforce_id = lr.salesforce_id
    inner join salesforce_people as by_email on by_email.person_email = lr.email
    where lr.is_valid_email and by_id.person_email <> lr.email
),

list_records_duplicated as (
    select
        'acton',
        'list_record',
        record_id,
        email_raw,
        {{ dbt.concat(["'another record of list '", "list_id", "' has this email'"]) }}
    from list_records
    where is_valid_email and position > 1
),

rejected as (
    select *, 1 as priority from salesforce_invalid
    union all
    select *, 1 from acton_contacts_invalid
    union all
    select *, 1 from list_records_invalid
    union all
    select *, 2 from list_records_split
    union all
    select *, 3 from list_records_duplicated
),

ranked as (
    select
        *,
        row_number() over (partition by source_system, source_object, record_id order by priority) as rank_in_record
    from rejected
)

select
    {{ dbt.concat(["source_system", "'|'", "source_object", "'|'", "record_id"]) }} as reject_id,
    source_system,
    source_object,
    record_id,
    email_raw,
    cast(case
        when priority > 1 then 'ambiguous match'
        when email_raw is null or trim(email_raw) = '' then 'missing email'
        else 'invalid email'
    end as {{ dbt.type_string() }}) as reason,
    cast(detail as {{ dbt.type_string() }}) as detail
from ranked
where rank_in_record = 1
