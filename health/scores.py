"""Check 2, scores not updating in Salesforce: matched records whose Salesforce score field differs from the
behavioural score after the push, told apart by cause: the score field cannot be written, the push failed for
the record, or the score moved in Act-On after the last list maintenance and push (they did not run since)."""

from __future__ import annotations

from collections import Counter

import duckdb

from common.sync_config import SyncConfig
from health.describe import FieldCatalog
from health.result import CheckResult, extracted_at, missing_models, passing, rows, sample, status_of
from ingest.clients.salesforce_client import SalesforceClient

NAME = "scores_not_updating"
TITLE = "Scores not updating in Salesforce"
FIELD_NOT_WRITABLE, PUSH_FAILED, NOT_PUSHED = (
    "field not writable",
    "push failed",
    "maintenance and push did not run",
)

# The diff dbt computed, minus what the push wrote successfully after the extract it was computed from.
_RESIDUAL = """
with attempts as (
    select object, record_id, status, error_code, message, written_at,
        row_number() over (partition by object, record_id order by written_at desc) as recency
    from sync_state.writeback_results
    where system = 'salesforce' and field = ? and written_at > ?
),
acton_scores as (
    select lower(trim(email)) as email, max(updated_at) as score_changed_at
    from raw_acton.contacts
    where lower(trim(email)) in (select email from sync.salesforce_score_updates)
    group by 1
)
select u.salesforce_object, u.salesforce_id, u.email, u.old_value as salesforce_score,
    u.new_value as behavioural_score, s.score_changed_at,
    a.status as last_push, a.error_code, a.message
from sync.salesforce_score_updates u
left join attempts a on a.object = u.salesforce_object and a.record_id = u.salesforce_id and a.recency = 1
left join acton_scores s on s.email = u.email
where coalesce(a.status, '') <> 'success'
order by u.salesforce_object, u.salesforce_id
"""


def check_scores_not_updating(
    conn: duckdb.DuckDBPyConnection, client: SalesforceClient, config: SyncConfig
) -> CheckResult:
    absent = missing_models(conn, NAME, TITLE, "sync.salesforce_score_updates", "raw_acton.contacts")
    if absent:
        return absent
    field = config.scores.salesforce_field
    as_of = extracted_at(conn, "raw_salesforce.lead", "raw_salesforce.contact")
    residual = rows(conn, _RESIDUAL, [field, as_of])
    last_push = conn.execute(
        "SELECT max(written_at) FROM sync_state.writeback_results "
        "WHERE system = 'salesforce' AND field = ? AND status = 'success'",
        [field],
    ).fetchone()[0]  # type: ignore[index]
    catalog = FieldCatalog(client)
    for r in residual:
        if not catalog.writable(r["salesforce_object"], field):
            r["cause"] = FIELD_NOT_WRITABLE
        elif r["last_push"] == "failed":
            r["cause"] = f"{PUSH_FAILED}: {r['error_code']} {r['message'] or ''}".strip()
        else:
            r["cause"] = NOT_PUSHED
    not_pushed_objects = sorted(lst.object for lst in config.lists if lst.direction not in ("push", "both"))
    counts: dict[str, int | float] = {"differing": len(residual)}
    kinds = Counter(r["cause"].split(":")[0] for r in residual)
    counts.update({k.replace(" ", "_"): n for k, n in kinds.items()})
    note = (
        f" (scores are not pushed to {', '.join(not_pushed_objects)}: their list's direction does not push)"
        if not_pushed_objects
        else ""
    )
    if not residual:
        return passing(NAME, TITLE, f"every matched record carries the behavioural score{note}", counts)
    why = "; ".join(f"{n} {k}" for k, n in kinds.most_common())
    fixes = []
    if kinds.get(FIELD_NOT_WRITABLE):
        fixes.append(
            f"the field {field} is missing or read-only on "
            f"{', '.join(sorted({r['salesforce_object'] for r in residual if r['cause'] == FIELD_NOT_WRITABLE}))}: "
            f"give the integration user edit access to it or set scores.salesforce_field to the field the org uses"
        )
    if kinds.get(PUSH_FAILED):
        fixes.append(
            "the push failed for some records (error per record in the samples / `make trace Q=<id>`): fix the "
            "validation rule or lock; failed records are sent again on the next run"
        )
    if kinds.get(NOT_PUSHED):
        since = f" (last push {last_push:%Y-%m-%d %H:%M} UTC)" if last_push else " (no push has run yet)"
        fixes.append(
            "the scores changed in Act-On after the last list maintenance and push"
            f"{since}: run the sync job, and keep the maintenance (list sync) scheduled before the "
            "Salesforce score push — the sync job runs them in that order"
        )
    return CheckResult(
        NAME,
        TITLE,
        status_of(True),
        f"{len(residual)} Salesforce records show a score other than Act-On's behavioural score: {why}{note}",
        "; ".join(fixes),
        counts,
        sample(residual),
    )
