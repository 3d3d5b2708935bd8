"""Check 1, records missing in Act-On: eligible Salesforce Leads/Contacts absent from their marketing list after
the list sync, each with its likely cause (list sync not enabled, rejected row, not imported yet), and records of
the other object in a list (the wrong object was imported)."""

from __future__ import annotations

from collections import Counter

import duckdb

from common.sync_config import SyncConfig
from health.result import CheckResult, missing_models, passing, rows, sample, status_of

NAME = "records_missing_in_acton"
TITLE = "Records missing in Act-On"
READS = (
    "intermediate.int_acton_list_members_desired",
    "raw_acton.lists",
    "raw_acton.list_records",
)
IMPORTING = ("pull", "both")

# A desired member counts as present when it is in the list as last extracted, or when the list sync wrote it
# successfully after that extract (after ever, for a list the extract does not read: direction off) and did not
# remove it since. Otherwise the latest write attempt (if any) tells why.
_MISSING = """
with unread as (
    select unnest(?::VARCHAR[]) as list_name, unnest(?::BOOLEAN[]) as unread
),
list_ids as (
    select name as list_name, min(list_id) as list_id from raw_acton.lists group by name
),
extracted as (
    select r.list_id, lower(trim(r.email)) as email
    from raw_acton.list_records r
    where not coalesce(r.is_deleted, false)
),
attempts as (
    select w.object as list_name, w.record_id as email, w.status, w.error_code, w.message,
        row_number() over (partition by w.object, w.record_id order by w.written_at desc) as recency
    from sync_state.writeback_results w
    join unread u on u.list_name = w.object
    where w.system = 'acton' and w.field = 'member' and w.written_at > if(u.unread, TIMESTAMP '1970-01-01', ?)
        and not exists (
            select 1 from sync_state.writeback_results r
            where r.system = 'acton' and r.object = w.object and r.field = 'removed' and r.status = 'success'
                and lower(r.old_value) = w.record_id and r.written_at > w.written_at
        )
)
select d.list_name, d.salesforce_object, d.salesforce_id, d.email,
    a.status as last_write, a.error_code, a.message
from intermediate.int_acton_list_members_desired d
left join list_ids l on l.list_name = d.list_name
left join extracted e on e.list_id = l.list_id and e.email = d.email
left join attempts a on a.list_name = d.list_name and a.email = d.email and a.recency = 1
where e.email is null and coalesce(a.status, '') <> 'success'
order by d.list_name, d.email
"""

# Records of a configured list linked (by their Salesforce Id) to a record of another object.
_WRONG_OBJECT = """
select l.name as list_name, r.record_id, lower(trim(r.email)) as email, r.salesforce_id,
    s.salesforce_object as linked_object
from raw_acton.list_records r
join raw_acton.lists l on l.list_id = r.list_id
join intermediate.int_salesforce_records_unioned s on s.salesforce_id = r.salesforce_id
where not coalesce(r.is_deleted, false) and l.name = ? and s.salesforce_object <> ?
order by r.record_id
"""


def _cause(row: dict, direction: str) -> str:
    if row["last_write"] == "failed":
        kind = "rejected by Act-On" if row["error_code"] == "REJECTED" else "list upload failed"
        return f"{kind}: {row['message'] or row['error_code']}"
    if direction not in IMPORTING:
        return f"list sync not enabled (direction {direction})"
    return "not imported yet: the list sync has not run since the record appeared"


def check_records_missing_in_acton(conn: duckdb.DuckDBPyConnection, config: SyncConfig) -> CheckResult:
    absent = missing_models(conn, NAME, TITLE, *READS)
    if absent:
        return absent
    as_of = conn.execute("SELECT coalesce(max(_extracted_at), TIMESTAMP '1970-01-01') FROM raw_acton.lists")
    configured = {lst.name: lst for lst in config.lists}
    # the extract reads the records of the lists whose direction is not off (orchestration/defs/extract/acton.py)
    unread = [lst.direction == "off" for lst in config.lists]
    missing = rows(conn, _MISSING, [list(configured), unread, as_of.fetchone()[0]])  # type: ignore[index]
    missing = [m for m in missing if m["list_name"] in configured]
    for m in missing:
        m["cause"] = _cause(m, configured[m["list_name"]].direction)
    wrong = [r for lst in config.lists for r in rows(conn, _WRONG_OBJECT, [lst.name, lst.object])]

    causes = Counter(m["cause"].split(":")[0] for m in missing)
    counts: dict[str, int | float] = {"missing": len(missing), "wrong_object": len(wrong)}
    counts.update({f"missing.{name}": sum(m["list_name"] == name for m in missing) for name in configured})
    if not missing and not wrong:
        return passing(NAME, TITLE, "every eligible Lead and Contact is in its Act-On list", counts)

    parts, fixes = [], []
    if missing:
        by_list = ", ".join(
            f"{n} from {name!r}" for name, n in Counter(m["list_name"] for m in missing).items()
        )
        why = "; ".join(f"{n} {cause}" for cause, n in causes.most_common())
        parts.append(f"{len(missing)} eligible Salesforce records are missing in Act-On ({by_list}): {why}")
        off = sorted(
            {m["list_name"] for m in missing if configured[m["list_name"]].direction not in IMPORTING}
        )
        if off:
            keys = ", ".join(f"lists[{[lst.name for lst in config.lists].index(n)}].direction" for n in off)
            fixes.append(f"enable the list sync: set {keys} in sync.yaml to pull or both")
        if any(m["last_write"] == "failed" for m in missing):
            fixes.append(
                "fix the rejected rows (reason in sync_state.rejects / `make trace Q=<email>`); "
                "a row is sent again once its data changes"
            )
        if causes.get("not imported yet"):
            fixes.append("run the sync job (or check that its schedule is on and its last run succeeded)")
    if wrong:
        lists = ", ".join(sorted({f"{r['list_name']!r} holds {r['linked_object']}s" for r in wrong}))
        parts.append(f"{len(wrong)} list records come from the wrong Salesforce object ({lists})")
        fixes.append(
            "the wrong object was imported: import Contacts and Leads into separate lists and check each "
            "list's `object` in sync.yaml"
        )
    return CheckResult(
        NAME,
        TITLE,
        status_of(True),
        "; ".join(parts),
        "; ".join(fixes),
        counts,
        sample(missing) + sample(wrong),
    )
