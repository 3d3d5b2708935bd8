"""Check 3, unsubscribe status mismatch: emails whose opt-out state disagrees between Salesforce
(HasOptedOutOfEmail on any live Lead or Contact) and Act-On's opt-out list, given the configured direction.

Under pull, push or both the disagreements are the opt-out diff dbt resolved, minus the writes that succeeded
after the extract it came from. Under off nothing syncs, so every disagreement is reported as a warning that
points at the direction setting."""

from __future__ import annotations

from collections import Counter

import duckdb

from common.sync_config import SyncConfig
from health.result import CheckResult, Status, extracted_at, missing_models, passing, rows, sample, status_of
from ingest.extract.optout_holds import holds

NAME = "optout_mismatch"
TITLE = "Unsubscribe status mismatch"
READS = (
    "sync.salesforce_optout_updates",
    "sync.acton_optout_additions",
    "raw_salesforce.lead",
    "raw_salesforce.contact",
    "raw_acton.optouts",
)
OPTOUT_FIELD = "HasOptedOutOfEmail"

_SALESFORCE_SIDE = """
with attempts as (
    select object, record_id, status, error_code, message,
        row_number() over (partition by object, record_id order by written_at desc) as recency
    from sync_state.writeback_results
    where system = 'salesforce' and field = 'HasOptedOutOfEmail' and written_at > ?
)
select u.email, 'salesforce' as behind, u.salesforce_object, u.salesforce_id,
    u.old_value as salesforce_opted_out, u.new_value as should_be, u.source_event, u.event_at,
    a.status as last_write, a.error_code, a.message
from sync.salesforce_optout_updates u
left join attempts a on a.object = u.salesforce_object and a.record_id = u.salesforce_id and a.recency = 1
where coalesce(a.status, '') <> 'success'
"""

_ACTON_SIDE = """
with attempts as (
    select record_id as email, status, error_code, message,
        row_number() over (partition by record_id order by written_at desc) as recency
    from sync_state.writeback_results
    where system = 'acton' and object = 'optout_list' and written_at > ?
)
select lower(trim(u.email)) as email, 'acton' as behind, null as salesforce_object, null as salesforce_id,
    false as acton_opted_out, true as should_be, u.source_event, u.event_at,
    a.status as last_write, a.error_code, a.message
from sync.acton_optout_additions u
left join attempts a on a.email = lower(trim(u.email)) and a.recency = 1
where coalesce(a.status, '') <> 'success'
"""

# Raw disagreement, whatever the direction: opted out in one system and not in the other.
_RAW = """
with records as (
    select lower(trim("Email")) as email, "HasOptedOutOfEmail" as opted_out
    from (
        select "Email", "HasOptedOutOfEmail", "IsDeleted" from raw_salesforce.lead where not "IsConverted"
        union all
        select "Email", "HasOptedOutOfEmail", "IsDeleted" from raw_salesforce.contact
    )
    where not coalesce("IsDeleted", false) and "Email" is not null
),
acton as (select distinct lower(trim(email)) as email from raw_acton.optouts),
-- only an email opted out on a record or on Act-On's list can disagree: the group by skips the rest
candidates as (
    select email from records where opted_out
    union
    select email from acton
),
salesforce as (
    select email, bool_or(opted_out) as opted_out
    from records
    where email in (select email from candidates)
    group by 1
)
select s.email,
    case when s.opted_out then 'acton' else 'salesforce' end as behind,
    s.opted_out as salesforce_opted_out, a.email is not null as acton_opted_out
from salesforce s left join acton a on a.email = s.email
where s.opted_out <> (a.email is not null)
order by s.email
"""


def _cause(row: dict, direction: str) -> str:
    if row["last_write"] == "failed":
        return f"write failed: {row['error_code']} {row['message'] or ''}".strip()
    return (
        f"not synced yet ({row['source_event']} at {row['event_at']:%Y-%m-%d %H:%M})"
        if row["event_at"]
        else "not synced yet"
    )


def check_optout_mismatch(conn: duckdb.DuckDBPyConnection, config: SyncConfig) -> CheckResult:
    absent = missing_models(conn, NAME, TITLE, *READS)
    if absent:
        return absent
    direction = config.optouts.direction
    field_note = (
        f"Act-On syncs opt-outs with the Salesforce field {OPTOUT_FIELD}: confirm it is the field your org "
        "uses for email opt-outs"
    )
    raw = rows(conn, _RAW)
    counts: dict[str, int | float] = {
        "disagreeing_emails": len({r["email"] for r in raw}),
        "opted_out_only_in_salesforce": sum(r["behind"] == "acton" for r in raw),
        "opted_out_only_in_acton": sum(r["behind"] == "salesforce" for r in raw),
    }
    if direction == "off":
        if not raw:
            return passing(NAME, TITLE, "opt-outs agree in both systems", counts)
        return CheckResult(
            NAME,
            TITLE,
            status_of(False, warned=True),
            f"{counts['disagreeing_emails']} emails are opted out in one system only, and optouts.direction "
            "is off, so nothing syncs them",
            f"review the opt-out sync direction: set optouts.direction in sync.yaml to both (or push / pull); "
            f"{field_note}",
            counts,
            sample(raw),
        )

    as_of = extracted_at(conn, "raw_salesforce.lead", "raw_salesforce.contact", "raw_acton.optouts")
    residual = rows(conn, _SALESFORCE_SIDE, [as_of]) + rows(conn, _ACTON_SIDE, [as_of])
    for r in residual:
        r["cause"] = _cause(r, direction)
    emails = {r["email"] for r in residual}
    counts.update(
        {
            "mismatched_emails": len(emails),
            "salesforce_behind": sum(r["behind"] == "salesforce" for r in residual),
            "acton_behind": sum(r["behind"] == "acton" for r in residual),
            "write_failed": sum(r["last_write"] == "failed" for r in residual),
        }
    )
    if not residual:
        return passing(
            NAME,
            TITLE,
            f"opt-outs agree in both systems under direction {direction}"
            + (
                f" ({counts['disagreeing_emails']} one-sided opt-outs are left alone by this direction)"
                if raw
                else ""
            ),
            counts,
        )
    kinds = Counter(r["cause"].split(" (")[0].split(":")[0] for r in residual)
    where = []
    if counts["salesforce_behind"]:
        where.append(f"{counts['salesforce_behind']} Salesforce records disagree with Act-On")
    if counts["acton_behind"]:
        where.append(
            f"{counts['acton_behind']} emails opted out in Salesforce are not on Act-On's opt-out list"
        )
    fixes = []
    if kinds.get("not synced yet"):
        fixes.append(
            f"run the opt-out sync (optout_job, scheduled '{config.optouts.schedule}') and check its last run; "
            f"optouts.direction is {direction}: if one system should win, review the direction"
        )
    if kinds.get("write failed"):
        fixes.append(
            "fix the failed writes (error per record in the samples); they are retried on the next run"
        )
    fixes.append(field_note)
    return CheckResult(
        NAME,
        TITLE,
        status_of(True),
        f"{len(emails)} emails have a different unsubscribe status in Salesforce and Act-On under direction "
        f"{direction}: {'; '.join(where)} ({', '.join(f'{n} {k}' for k, n in kinds.most_common())})",
        "; ".join(fixes),
        counts,
        sample(sorted(residual, key=lambda r: r["email"])),
    )


HOLD_NAME = "optout_hold"
HOLD_TITLE = "Opt-out list read held"


def check_optout_hold(conn: duckdb.DuckDBPyConnection) -> CheckResult:
    """A whole read of Act-On's opt-out list held by the plausibility guard (ingest/extract/optout_holds.py): its
    inferred opt-ins are not applied until an operator releases that read."""
    held = holds(conn, "held")
    if not held:
        return CheckResult(HOLD_NAME, HOLD_TITLE, Status.PASS, "no opt-out list read is held")
    h = held[0]
    return CheckResult(
        HOLD_NAME,
        HOLD_TITLE,
        Status.FAIL,
        f"the whole read of Act-On's opt-out list at {h.read_at:%Y-%m-%d %H:%M} UTC would infer "
        f"{h.inferred_optins} opt-ins of {h.known_optouts} known opt-outs (at most {h.allowed} allowed): nothing "
        "is un-ticked for them; new opt-outs, lists and scores still sync",
        "check in Act-On that these people really opted back in (a partial or failed read of the opt-out list "
        f"looks the same); if they did, `python -m ingest.extract.optout_holds release {h.hold_id}`, and the next run "
        "applies them; if not, do nothing: the hold stays until a read no longer lacks them",
        counts={
            "inferred_optins": h.inferred_optins,
            "known_optouts": h.known_optouts,
            "allowed": h.allowed,
        },
        samples=sample(
            rows(
                conn,
                "SELECT email, last_seen_at FROM sync_state.optout_hold_emails WHERE hold_id = ? ORDER BY email",
                [h.hold_id],
            )
        ),
    )
