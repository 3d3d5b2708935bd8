{#- An opportunity's touches: campaign memberships, created before the opportunity, of its contact-role
    contacts and of the leads converted into those contacts. Only memberships of live campaigns count: the ROI
    report lists live campaigns, and credit given to a deleted one would vanish from its totals. -#}
with role_contacts as (
    select distinct opportunity_id, contact_id
    from {{ ref('stg_salesforce__opportunity_contact_roles') }}
    where not is_deleted
),

members as (
    select m.*
    from {{ ref('stg_salesforce__campaign_members') }} as m
    inner join {{ ref('stg_salesforce__campaigns') }} as c on c.campaign_id = m.campaign_id
    where not m.is_deleted and not c.is_deleted
),

touches as (
    select rc.opportunity_id, m.campaign_member_id, m.campaign_id, m.created_at as touched_at
    from role_contacts as rc
    inner join members as m on m.contact_id = rc.contact_id

    union

    select rc.opportunity_id, m.campaign_member_id, m.campaign_id, m.created_at
    from role_contacts as rc
    inner join {{ ref('stg_salesforce__leads') }} as l on l.converted_contact_id = rc.contact_id
    inner join members as m on m.lead_id = l.lead_id
)

select
    {{ dbt.concat(["t.opportunity_id", "'|'", "t.campaign_member_id"]) }} as touch_id,
    t.opportunity_id,
    t.campaign_member_id,
    t.campaign_id,
    t.touched_at
from touches as t
inner join {{ ref('int_opportunities_mapped') }} as o on o.opportunity_id = t.opportunity_id
where t.touched_at < o.created_at
