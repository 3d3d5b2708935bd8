{#- Every consent event per normalised email, from both systems:
    Act-On opt-outs (history and current list), opt-ins (an email leaving the opt-out list), spam complaints
    (count as opt-outs); Salesforce checks and un-checks of HasOptedOutOfEmail (an un-check is kept here for
    the record, but int_consent_states_resolved never treats it as an opt-in). Hard bounces are not consent. -#}
with acton_optouts as (
    select email, coalesce(opted_out_at, first_seen_at) as event_at
    from {{ ref('stg_acton__optout_history_entries') }}
    where is_valid_email
    union
    select email, opted_out_at as event_at
    from {{ ref('stg_acton__optouts') }}
    where is_valid_email
),

events as (
    select
        email,
        'acton' as source_system,
        'opt_out' as event_type,
        'acton_optout' as source_event,
        cast(null as {{ dbt.type_string() }}) as salesforce_id,
        event_at
    from acton_optouts

    union all

    select email, 'acton', 'opt_in', 'acton_optin', cast(null as {{ dbt.type_string() }}), removed_at
    from {{ ref('stg_acton__optout_history_entries') }}
    where is_valid_email and removed_at is not null

    union all

    select email, 'acton', 'opt_out', 'acton_spam_complaint', cast(null as {{ dbt.type_string() }}), complained_at
    from {{ ref('stg_acton__spam_complaints') }}
    where is_valid_email

    union all

    select
        r.person_email,
        'salesforce',
        case when o.is_opted_out then 'opt_out' else 'opt_in' end,
        case when o.is_opted_out then 'salesforce_check' else 'salesforce_uncheck' end,
        o.salesforce_id,
        o.changed_at
    from {{ ref('int_salesforce_optouts_observed') }} as o
    inner join {{ ref('int_salesforce_records_unioned') }} as r on r.salesforce_id = o.salesforce_id
    where r.person_email is not null and not r.is_deleted
)

select
    {{ dbt.concat(["email", "'|'", "source_event", "'|'", "coalesce(salesforce_id, '')", "'|'",
                   dbt.cast("event_at", dbt.type_string())]) }} as consent_event_id,
    email,
    source_system,
    event_type,
    source_event,
    salesforce_id,
    event_at
from events
where event_at is not null
