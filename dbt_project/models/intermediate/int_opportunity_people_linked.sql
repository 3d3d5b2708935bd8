{#- Which people an opportunity belongs to: its contact roles' contacts, its ContactId, and the leads converted
    into it (ConvertedOpportunityId). -#}
with records as (
    select * from {{ ref('int_salesforce_records_unioned') }}
    where person_email is not null
),

links as (
    select r.person_email, ocr.opportunity_id, 1 as link_priority, 'contact_role' as linked_through
    from {{ ref('stg_salesforce__opportunity_contact_roles') }} as ocr
    inner join records as r on r.salesforce_object = 'Contact' and r.salesforce_id = ocr.contact_id
    where not ocr.is_deleted

    union all

    select r.person_email, o.opportunity_id, 2, 'opportunity_contact'
    from {{ ref('int_opportunities_mapped') }} as o
    inner join records as r on r.salesforce_object = 'Contact' and r.salesforce_id = o.contact_id

    union all

    select r.person_email, r.converted_opportunity_id, 3, 'converted_lead'
    from records as r
    where r.salesforce_object = 'Lead' and r.converted_opportunity_id is not null
),

ranked as (
    select
        links.*,
        row_number() over (partition by person_email, links.opportunity_id order by link_priority) as rank_in_pair
    from links
    inner join {{ ref('int_opportunities_mapped') }} as o on o.opportunity_id = links.opportunity_id
)

select
    {{ dbt.concat(["opportunity_id", "'|'", "person_email"]) }} as opportunity_person_id,
    opportunity_id,
    person_email as email,
    linked_through
from ranked
where rank_in_pair = 1
