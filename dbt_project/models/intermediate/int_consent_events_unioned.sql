{#- Every consent event per normalised email, from both systems:
    Act-On opt-outs (history and current list), opt-ins (an email that left the opt-out list: inferred from
    whole reads that lacked it, so dated at the last time it was seen there, and any Salesforce check after that
    wins), spam complaints
    (count as opt-outs); Salesforce checks and un-checks of HasOptedOutOfEmail (an un-check is kept here for
    the record, but int_consent_states_resolved never treats it as an opt-in). Hard bounces are not consent.
    A check our own write-back made (consent ledger, system salesforce, written since the record's previous
    observation and before this one) is the echo of the event that decided it, so it carries that event's time:
    dated by when a later run saw it, it would look newer than an Act-On opt-in made while the write was on
    its way, and opt that person out again. -#}
with acton_optouts as (
    select email, coalesce(opted_out_at, first_seen_at) as event_at
    from {{ ref('stg_acton__optout_history_entries') }}
    where is_valid_email
    union
    select email, opted_out_at as event_at
    from {{ ref('stg_acton__optouts') }}
    where is_valid_email
),

salesforce_transitions as (
    select
        o.salesforce_id,
        o.is_opted_out,
        o.changed_at,
        o.observed_at,
        lag(o.observed_at) over (partition by o.salesforce_id order by o.observed_at) as previous_observed_at,
        r.person_email
    from {{ ref('int_salesforce_optouts_observed') }} as o
    inner join {{ ref('int_salesforce_records_unioned') }} as r on r.salesforce_id = o.salesforce_id
    where r.person_email is not null and not r.is_deleted
),

our_salesforce_checks as (
    select email, event_at, written_at
    from {{ ref('stg_sync_state__consent_ledger_entries') }}
    where system = 'salesforce' and lower(new_value) = 'true'
),

{#- joined on email alone, then filtered: DuckDB runs the same conditions inside a left join as a nested loop over
    every transition and every check we wrote (6 s at 1M Leads) -#}
echoes as (
    select t.salesforce_id, t.observed_at, w.event_at, w.written_at
    from salesforce_transitions as t
    inner join our_salesforce_checks as w on w.email = t.person_email
    where t.is_opted_out
        and w.written_at <= t.observed_at
        and (t.previous_observed_at is null or w.written_at > t.previous_observed_at)
),

salesforce_changes as (
    select
        t.*,
        e.event_at as echoed_event_at,
        row_number() over (partition by t.salesforce_id, t.observed_at order by e.written_at desc) as echo_rank
    from salesforce_transitions as t
    left join echoes as e on e.salesforce_id = t.salesforce_id and e.observed_at = t.observed_at
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

    select email, 'acton', 'opt_in', 'acton_optin', cast(null as {{ dbt.type_string() }}), last_seen_at
    from {{ ref('stg_acton__optout_history_entries') }}
    where is_valid_email and removed_at is not null

    union all

    select email, 'acton', 'opt_out', 'acton_spam_complaint', cast(null as {{ dbt.type_string() }}), complained_at
    from {{ ref('stg_acton__spam_complaints') }}
    where is_valid_email

    union all

    select
        person_email,
        'salesforce',
        case when is_opted_out then 'opt_out' else 'opt_in' end,
        case when is_opted_out then 'salesforce_check' else 'salesforce_uncheck' end,
        salesforce_id,
        coalesce(echoed_event_at, changed_at)
    from salesforce_changes
    where echo_rank = 1
)

{#- distinct: our check that echoes a Salesforce check (the box un-checked, then checked again by the sync on the
    strength of that check) is that same event once more -#}
select distinct
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
