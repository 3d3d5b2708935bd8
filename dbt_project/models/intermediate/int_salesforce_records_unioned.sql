{#- Every Lead and Contact, one row each, with the person it belongs to: its normalised email, except that a
    converted lead belongs to the person of its ConvertedContactId. Deleted and email-less records stay (flagged)
    so that list removals and rejects can be computed from here. -#}
with leads as (
    select
        'Lead' as salesforce_object,
        lead_id as salesforce_id,
        email,
        email_raw,
        is_valid_email,
        is_deleted,
        first_name,
        last_name,
        company,
        owner_id,
        lead_source,
        status as lead_status,
        is_converted,
        converted_contact_id,
        converted_opportunity_id,
        converted_date,
        has_opted_out_of_email,
        email_bounced_reason,
        email_bounced_date,
        cast({{ cfg_column(var('salesforce_score_field')) }} as {{ type_double() }}) as score_field_value,
        {{ cfg_value(var('high_intent_field'), dbt.type_boolean()) }} as high_intent_field_value,
        {{ cfg_value(var('last_engagement_field'), dbt.type_timestamp()) }} as last_engagement_field_value,
        created_at,
        last_modified_at,
        last_modified_by_id
    from {{ ref('stg_salesforce__leads') }}
),

contacts as (
    select
        'Contact' as salesforce_object,
        c.contact_id as salesforce_id,
        c.email,
        c.email_raw,
        c.is_valid_email,
        c.is_deleted,
        c.first_name,
        c.last_name,
        a.account_name as company,
        c.owner_id,
        c.lead_source,
        cast(null as {{ dbt.type_string() }}) as lead_status,
        false as is_converted,
        cast(null as {{ dbt.type_string() }}) as converted_contact_id,
        cast(null as {{ dbt.type_string() }}) as converted_opportunity_id,
        cast(null as date) as converted_date,
        c.has_opted_out_of_email,
        c.email_bounced_reason,
        c.email_bounced_date,
        cast(c.{{ cfg_column(var('salesforce_score_field')) }} as {{ type_double() }}) as score_field_value,
        {{ cfg_value(var('high_intent_field'), dbt.type_boolean(), 'c') }} as high_intent_field_value,
        {{ cfg_value(var('last_engagement_field'), dbt.type_timestamp(), 'c') }} as last_engagement_field_value,
        c.created_at,
        c.last_modified_at,
        c.last_modified_by_id
    from {{ ref('stg_salesforce__contacts') }} as c
    left join {{ ref('stg_salesforce__accounts') }} as a on a.account_id = c.account_id
),

records as (
    select * from leads
    union all
    select * from contacts
)

select
    r.*,
    case
        when converted_to.is_valid_email then converted_to.email
        when r.is_valid_email then r.email
    end as person_email
from records as r
left join contacts as converted_to
    on converted_to.salesforce_id = r.converted_contact_id
    and not converted_to.is_deleted
