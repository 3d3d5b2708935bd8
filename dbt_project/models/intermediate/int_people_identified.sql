{#- One row per person (normalised email) known to either system. The primary record is the Contact before
    the Lead, then the most recently modified; the lead source is that of the earliest record that has one. -#}
with salesforce as (
    select r.*, changes.changed_by_people_at
    from {{ ref('int_salesforce_records_unioned') }} as r
    inner join {{ ref('int_salesforce_people_changes_observed') }} as changes
        on changes.salesforce_id = r.salesforce_id
    where not r.is_deleted and r.person_email is not null
),

ranked as (
    select
        *,
        row_number() over (
            partition by person_email
            order by case when salesforce_object = 'Contact' then 0 else 1 end, changed_by_people_at desc nulls last, salesforce_id
        ) as primary_rank,
        row_number() over (
            partition by person_email
            order by case when lead_source is null then 1 else 0 end, created_at, salesforce_id
        ) as source_rank
    from salesforce
),

salesforce_people as (
    select
        person_email,
        min(created_at) as first_created_at,
        max(case when primary_rank = 1 then salesforce_object end) as primary_salesforce_object,
        max(case when primary_rank = 1 then salesforce_id end) as primary_salesforce_id,
        max(case when primary_rank = 1 then first_name end) as first_name,
        max(case when primary_rank = 1 then last_name end) as last_name,
        max(case when primary_rank = 1 then company end) as company,
        max(case when primary_rank = 1 then owner_id end) as owner_id,
        max(case when source_rank = 1 then lead_source end) as lead_source,
        count(*) as salesforce_record_count
    from ranked
    group by person_email
),

acton_people as (
    select person_email, min(created_at) as first_created_at
    from {{ ref('int_acton_records_matched') }}
    group by person_email
)

select
    coalesce(sf.person_email, ao.person_email) as email,
    sf.primary_salesforce_object,
    sf.primary_salesforce_id,
    sf.first_name,
    sf.last_name,
    sf.company,
    sf.owner_id,
    coalesce(sf.lead_source, 'Unknown') as lead_source,
    coalesce(sf.salesforce_record_count, 0) as salesforce_record_count,
    sf.person_email is not null as in_salesforce,
    ao.person_email is not null as in_acton,
    case
        when sf.person_email is null then 'acton'
        when ao.person_email is null then 'salesforce'
        when ao.first_created_at < sf.first_created_at then 'acton'
        else 'salesforce'
    end as system_of_origin,
    {{ earlier('sf.first_created_at', 'ao.first_created_at') }} as known_at
from salesforce_people as sf
full outer join acton_people as ao on ao.person_email = sf.person_email
