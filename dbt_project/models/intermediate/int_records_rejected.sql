{#- Records that cannot be synced because they have no valid email: they never reach a list or a person. -#}
with salesforce as (
    select
        'salesforce' as source_system,
        salesforce_object as source_object,
        salesforce_id as record_id,
        email_raw
    from {{ ref('int_salesforce_records_unioned') }}
    where not is_deleted and person_email is null
),

acton_contacts as (
    select 'acton' as source_system, 'contact' as source_object, contact_id as record_id, email_raw
    from {{ ref('stg_acton__contacts') }}
    where not is_valid_email
),

acton_list_records as (
    select 'acton' as source_system, 'list_record' as source_object, record_id, email_raw
    from {{ ref('stg_acton__list_records') }}
    where not is_deleted and not is_valid_email
),

rejected as (
    select * from salesforce
    union all
    select * from acton_contacts
    union all
    select * from acton_list_records
)

select
    {{ dbt.concat(["source_system", "'|'", "source_object", "'|'", "record_id"]) }} as reject_id,
    source_system,
    source_object,
    record_id,
    email_raw,
    case
        when email_raw is null or trim(email_raw) = '' then 'missing email'
        else 'invalid email'
    end as reason
from rejected
