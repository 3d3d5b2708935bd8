{#- Act-On hard bounces to EmailBouncedReason / EmailBouncedDate on every live Lead and Contact with the email,
    when the opt-out direction pushes to Salesforce and Salesforce does not already hold this or a later bounce.
    A bounce is not an opt-out. One row per record and field that differs, values as the write-back sends them. -#}
with bounces as (
    select email, bounced_at, origin,
        row_number() over (partition by email order by bounced_at desc nulls last) as recency
    from {{ ref('stg_acton__hard_bounces') }}
    where is_valid_email
),

bounced as (
    select
        r.salesforce_id,
        r.salesforce_object,
        r.person_email as email,
        r.email_bounced_reason as reason_old,
        cast({{ dbt.concat(["'Act-On hard bounce'",
            "case when b.origin is not null then " ~ dbt.concat(["': '", "b.origin"]) ~ " else '' end"]) }}
            as {{ dbt.type_string() }}) as reason_new,
        r.email_bounced_date as date_old,
        b.bounced_at as date_new
    from {{ ref('int_salesforce_records_unioned') }} as r
    inner join bounces as b on b.email = r.person_email and b.recency = 1
    where not r.is_deleted
        and not r.is_converted  -- Salesforce refuses writes to converted leads
        and '{{ var("optout_direction") }}' in ('push', 'both')
        and (r.email_bounced_date is null or r.email_bounced_date < b.bounced_at)
),

fields as (
    select salesforce_id, salesforce_object, email, 'EmailBouncedReason' as field,
        reason_old as old_value, reason_new as new_value
    from bounced

    union all

    select salesforce_id, salesforce_object, email, 'EmailBouncedDate' as field,
        {{ salesforce_datetime_text('date_old') }} as old_value,
        {{ salesforce_datetime_text('date_new') }} as new_value
    from bounced
)

select
    salesforce_id,
    salesforce_object,
    email,
    field,
    cast(old_value as {{ dbt.type_string() }}) as old_value,
    cast(new_value as {{ dbt.type_string() }}) as new_value
from fields
where old_value is distinct from new_value
