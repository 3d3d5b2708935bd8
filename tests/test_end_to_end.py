"""End to end: the real ``sync_job`` / ``optout_job`` run in this process against the sandboxes, and every outcome
checked the way a user would check it — through Salesforce's and Act-On's own APIs, never through the warehouse.
What each system should hold is worked out here from those APIs alone (the rules of docs/architecture.md,
written independently of the dbt models), then compared with what the run left there.

Two worlds keep the runs few: a fresh sandbox for the sync sequence that changes the world (first run under
lock faults, a run with nothing changed, a run after ``simulate`` under permanent row errors, the retry run), and a
shared one for the opt-out direction matrix and the invalid configurations (four opt-out runs, one direction each,
on one warehouse, each with its own people, so nothing needs resetting between them). Each world runs once on each
warehouse target (the DuckDB file; WAREHOUSE=postgres, marker ``postgres``).
"""

from __future__ import annotations

import copy
import csv
import gc
import io
import math
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from common.sync_config import SyncConfigError
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox, start
from tests.postgres_server import PostgresServer

PROJECT = Path(__file__).resolve().parents[1]
SYNC_YAML = PROJECT / "sync.yaml"
INSTANCE_CONFIG = PROJECT / ".dagster" / "dagster.yaml"
SCALE = 150
SCORE_FIELD, HIGH_INTENT, LAST_ENGAGEMENT = (
    "ActOn_Lead_Score__c",
    "ActOn_High_Intent__c",
    "ActOn_Last_Engagement__c",
)
OPTOUT = "HasOptedOutOfEmail"
CONTACTS_LIST, LEADS_LIST = "SFDC Master Contacts", "SFDC Master Leads"
LIST_OBJECTS = {CONTACTS_LIST: "Contact", LEADS_LIST: "Lead"}
SF_PUSHES = (
    "salesforce_score_push",
    "optout_sync",
    "salesforce_bounce_push",
    "salesforce_prospect_fields_push",
)
WRITEBACK = ("acton_list_sync", *SF_PUSHES)
# The main sequence's Salesforce writes go through Bulk 2.0 at 40 rows or more: the first run's large writes
# meet the lock faults there, and their retries (a few rows) go through sObject Collections.
BULK_THRESHOLD = 40
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
EMAIL_PATTERN = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"


# -- a deployment of the pipeline: one sandbox, one warehouse, one sync.yaml, one Dagster instance --------------
@dataclass
class JobRun:
    result: dg.ExecuteInProcessResult

    @property
    def success(self) -> bool:
        return self.result.success

    def events(self, kind: str) -> list[dg.DagsterEvent]:
        return [e for e in self.result.all_events if e.event_type_value == kind]

    def failures(self) -> dict[str, str]:
        return {e.step_key: str(e.event_specific_data.error) for e in self.events("STEP_FAILURE")}

    def started(self) -> set[str]:
        return {e.step_key for e in self.events("STEP_START")}

    def meta(self, asset: str) -> dict[str, Any]:
        """The materialisation metadata of a write-back or analytics asset, as plain values."""
        (m,) = self.result.asset_materializations_for_node(asset)
        return {k: v.value for k, v in m.metadata.items()}

    def sent(self, asset: str) -> int:
        return self.meta(asset)["rows_sent"]


@dataclass
class Pipeline:
    sandbox: Sandbox
    home: Path
    config: dict[str, Any] = field(default_factory=lambda: yaml.safe_load(SYNC_YAML.read_text()))
    # WAREHOUSE and, for Postgres, its settings
    warehouse_env: dict[str, str] = field(default_factory=lambda: {"WAREHOUSE": "duckdb"})

    def __post_init__(self) -> None:
        instance_dir = self.home / "dagster_home"
        instance_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(INSTANCE_CONFIG, instance_dir / "dagster.yaml")  # the committed instance: the DuckDB pool
        self.instance = dg.DagsterInstance.from_config(str(instance_dir))
        self.sf = SalesforceClient.from_env(self.env())
        self.acton = ActOnClient.from_env(self.env())

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def config_path(self) -> Path:
        return self.home / "sync.yaml"

    def env(self) -> dict[str, str]:
        return {
            **self.sandbox.env,
            "WAREHOUSE_PATH": str(self.warehouse),
            "ANALYTICS_PATH": str(self.home / "analytics.duckdb"),
            "TOKEN_CACHE_PATH": str(self.home / "tokens.json"),
            "SYNC_CONFIG": str(self.config_path),
            **self.warehouse_env,
        }

    def run(
        self, job: str, config: Mapping[str, Any] | None = None, run_config: Mapping[str, Any] | None = None
    ) -> JobRun:
        """Run ``job`` in this process with ``config`` as its sync.yaml and ``run_config`` merged into the quiet
        logging, the environment set for the run only."""
        self.config_path.write_text(yaml.safe_dump(dict(config or self.config), sort_keys=False))
        with pytest.MonkeyPatch.context() as mp:
            for key, value in self.env().items():
                mp.setenv(key, value)
            # imported here: the orchestration modules read the environment when first imported
            from orchestration.definitions import defs
            from orchestration.defs.resources import (
                ActOnResource,
                SalesforceResource,
                SyncConfigResource,
                WarehouseResource,
            )

            env = self.sandbox.env
            resources = {
                "warehouse": WarehouseResource(path=str(self.warehouse)),
                "sync_config": SyncConfigResource(path=str(self.config_path)),
                "salesforce": SalesforceResource(
                    login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"]
                ),
                "acton": ActOnResource(base_url=env["ACTON_BASE_URL"], client_id=env["ACTON_CLIENT_ID"]),
            }
            result = (
                defs()
                .resolve_job_def(job)
                .execute_in_process(
                    instance=self.instance,
                    resources=resources,
                    run_config={**QUIET, **(run_config or {})},
                    raise_on_error=False,
                )
            )
        gc.collect()  # the clients the assets built hold keep-alive connections to the sandbox
        return JobRun(result)

    def close(self) -> None:
        self.sf.session.close()
        self.acton.session.close()
        self.instance.dispose()


def dbt_skipped(run: JobRun) -> bool:
    """Whether the run skipped the dbt build (every model materialised with the skip note) or ran it (none)."""
    notes = [m.metadata.get("dbt_build") for m in run.result.asset_materializations_for_node("dbt_models")]
    assert notes and (all(notes) or not any(notes)), notes
    return all(notes)


def calls(sb: Sandbox) -> dict[str, dict[str, int]]:
    return {system: sb.stats(system)["by_endpoint"] for system in ("salesforce", "acton")}


def calls_since(sb: Sandbox, before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    now = calls(sb)
    return {
        system: {
            k: n - before[system].get(k, 0) for k, n in now[system].items() if n > before[system].get(k, 0)
        }
        for system in now
    }


def writes(by_endpoint: Mapping[str, int]) -> list[str]:
    """The endpoints of a call count that change data (every write is a PATCH, PUT, POST or DELETE; the reads
    that are POSTs — logins, query jobs, the Composite requests that carry the run's describes — are left out)."""
    return sorted(
        k
        for k in by_endpoint
        if k.split()[0] in ("PATCH", "PUT", "POST", "DELETE")
        and "/oauth2/" not in k
        and "/token" not in k
        and "/jobs/query" not in k
        and not k.endswith("/composite")
    )


# -- what the systems hold, read through their APIs ------------------------------------------------------------
def normalised(email: str | None) -> str | None:
    e = (email or "").strip().lower()
    return e if re.fullmatch(EMAIL_PATTERN, e) else None


def rounded(score: float) -> int:
    return math.floor(score + 0.5)  # SQL round(): halves away from zero (scores are never negative)


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def sf_time(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z") if value else None


@dataclass
class World:
    """Salesforce's live Leads and Contacts, Act-On's scores, lists, opt-outs and engagement, as their APIs
    tell them."""

    records: dict[str, list[dict[str, Any]]]
    scores: dict[str, float]
    lists: dict[str, list[dict[str, str]]]
    optouts: set[str]
    engagement: dict[str, datetime]

    def record(self, obj: str, rid: str) -> dict[str, Any]:
        return next(r for r in self.records[obj] if r["Id"] == rid)

    def writable(self) -> Iterator[tuple[str, dict[str, Any], str]]:
        """(object, record, person email) of every live record Salesforce lets us write that has a person."""
        for obj, recs in self.records.items():
            for r in recs:
                email = normalised(r["Email"])
                if email and not r.get("IsConverted"):
                    yield obj, r, email

    def desired_members(self, list_name: str) -> dict[str, dict[str, Any]]:
        """Email -> the record the list should carry: the most recently modified live record of the list's
        object with that email (ties: the smallest Id); converted leads have left the Leads list."""
        out: dict[str, dict[str, Any]] = {}
        obj = LIST_OBJECTS[list_name]
        for o, r, email in sorted(self.writable(), key=lambda t: t[1]["Id"]):
            if o == obj and (email not in out or r["LastModifiedDate"] > out[email]["LastModifiedDate"]):
                out[email] = r
        return out

    def expected_row(self, email: str, r: Mapping[str, Any]) -> dict[str, str]:
        company = r["Company"] if "Company" in r else (r.get("Account") or {}).get("Name")
        return {
            "Salesforce Id": r["Id"],
            "First Name": text(r["FirstName"]),
            "Last Name": text(r["LastName"]),
            "Company": text(company),
            "Salesforce Owner": text((r.get("Owner") or {}).get("Name")),
            "Lead Score": str(rounded(self.scores[email])) if email in self.scores else "",
        }

    def list_by_email(self, list_name: str) -> dict[str, dict[str, str]]:
        return {normalised(row["Email"]) or row["Email"]: row for row in self.lists.get(list_name, [])}

    def list_mismatches(self, list_name: str, as_found: World) -> dict[str, Any]:
        """Email -> (wanted row, row in the list) wherever the list differs from what a run that found the
        world as ``as_found`` should have left (its members' current scores as Lead Score)."""
        desired = as_found.desired_members(list_name)
        in_list = self.list_by_email(list_name)
        out: dict[str, Any] = {e: (None, in_list[e]) for e in set(in_list) - set(desired)}
        for email, r in desired.items():
            want = self.expected_row(email, r)
            got = {k: text(v) for k, v in in_list.get(email, {}).items() if k in want}
            # a blank in Salesforce keeps the list's value
            if email not in in_list or any(v and got.get(k) != v for k, v in want.items()):
                out[email] = (want, got)
        return out

    def list_changes(self, list_name: str) -> tuple[set[str], set[str]]:
        """(emails to upsert, emails to remove): what the list sync still has to send."""
        mismatches = self.list_mismatches(list_name, self)
        removals = {email for email, (want, _) in mismatches.items() if want is None}
        return set(mismatches) - removals, removals

    def score_changes(self) -> set[tuple[str, str]]:
        """(object, id) of every writable record whose score field differs from its person's current score."""
        return {
            (obj, r["Id"])
            for obj, r, email in self.writable()
            if email in self.scores and r[SCORE_FIELD] != rounded(self.scores[email])
        }


def sf_records(sf: SalesforceClient) -> dict[str, list[dict[str, Any]]]:
    common = f"Id, Email, FirstName, LastName, Owner.Name, {OPTOUT}, {SCORE_FIELD}, {HIGH_INTENT}, {LAST_ENGAGEMENT}, LastModifiedDate"
    soql = {
        "Lead": f"SELECT {common}, Company, IsConverted FROM Lead",
        "Contact": f"SELECT {common}, Account.Name FROM Contact",
    }
    return {
        obj: [r for page in sf.query_pages(q, include_deleted=False) for r in page["records"]]
        for obj, q in soql.items()
    }


def acton_scores(acton: ActOnClient) -> dict[str, float]:
    """Email -> the Act-On Primary Score of the most recently updated unified contact that has one."""
    contacts = sorted(
        (c for page in acton.contact_pages() for c in page.get("contacts") or []), key=lambda c: str(c["id"])
    )
    latest: dict[str, tuple[Any, float]] = {}
    for c in contacts:
        email, score = normalised(c.get("email")), (c.get("fields") or {}).get("Act-On Primary Score")
        if email and score not in (None, "") and (email not in latest or c["updatedAt"] > latest[email][0]):
            latest[email] = (c["updatedAt"], float(score))
    return {email: score for email, (_, score) in latest.items()}


def acton_lists(acton: ActOnClient) -> dict[str, list[dict[str, str]]]:
    ids = {e["name"]: str(e["id"]) for page in acton.lists() for e in page.get("result") or []}
    return {
        name: list(csv.DictReader(io.StringIO(acton.list_csv(ids[name]).decode())))
        for name in LIST_OBJECTS
        if name in ids
    }


def acton_optouts(acton: ActOnClient) -> set[str]:
    return {
        normalised(r["email"]) or r["email"] for page in acton.optout_pages("optout") for r in page["result"]
    }


def acton_engagement(acton: ActOnClient, window: timedelta = timedelta(days=30)) -> dict[str, datetime]:
    """Email -> the latest open or click of the messages sent in the 30 days up to the newest send (what the
    extract keeps drill-downs for)."""
    messages = [m for page in acton.message_pages() for m in page.get("msgresult") or []]
    sent = {m["msgId"]: int(m["timeStamp"]) for m in messages if m.get("timeStamp")}
    newest = max(sent.values(), default=0)
    latest: dict[str, datetime] = {}
    for message_id, at in sent.items():
        if at < newest - window.total_seconds() * 1000:
            continue
        for verb in ("OPENED", "CLICKED"):
            for page in acton.drilldown_pages(message_id, verb):
                for row in page.get("result") or []:
                    email = normalised(row.get("email"))
                    when = datetime.fromtimestamp(int(row["timestamp"]) / 1000, UTC)
                    if email and (email not in latest or when > latest[email]):
                        latest[email] = when
    return latest


def observe(p: Pipeline, engagement: bool = False) -> World:
    return World(
        sf_records(p.sf),
        acton_scores(p.acton),
        acton_lists(p.acton),
        acton_optouts(p.acton),
        acton_engagement(p.acton) if engagement else {},
    )


# -- fixtures ----------------------------------------------------------------------------------------------------
def fast_acton(sb: Sandbox) -> Sandbox:
    """Act-On's 5 calls a second are not what these tests are about: lift it so the runs take less time."""
    sb.admin("acton", "POST", "limits", {"acton_rate_per_s": 100.0})
    return sb


ON_EACH_WAREHOUSE = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def warehouse_env(request: pytest.FixtureRequest, name: str) -> dict[str, str]:
    """WAREHOUSE as the fixture's param names it, with a database ``name`` of the tests' server for Postgres."""
    if request.param == "duckdb":
        return {"WAREHOUSE": "duckdb"}
    server: PostgresServer = request.getfixturevalue("postgres_warehouse_server")
    return server.warehouse_env(server.create_database(name))


@pytest.fixture(scope="module", params=ON_EACH_WAREHOUSE)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A sandbox whose world only the opt-out matrix changes (each phase with its own people)."""
    home = tmp_path_factory.mktemp(f"e2e_shared_{request.param}")
    sb = fast_acton(start(home / "sandbox", scale=SCALE, seed=21))
    p = Pipeline(sb, home, warehouse_env=warehouse_env(request, "e2e_shared"))
    yield p
    p.close()
    sb.stop()


def main_config() -> dict[str, Any]:
    """sync.yaml with only the Leads list assigned to sales, so the prospect fields must reach exactly the
    Leads list's people, and Bulk 2.0 from BULK_THRESHOLD rows."""
    config = yaml.safe_load(SYNC_YAML.read_text())
    config["sales_prospects"].update(
        existing_contacts_assigned_to_sales=None, prospects_in_active_opportunities=None
    )
    config["writeback"]["bulk_threshold"] = BULK_THRESHOLD
    return config


@dataclass
class FirstSync:
    pipeline: Pipeline
    before: World  # as the run found it
    after: World  # as the run left it
    run: JobRun
    started_at: datetime


@pytest.fixture(scope="module", params=ON_EACH_WAREHOUSE)
def first_sync(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstSync]:
    """A fresh world, synced once with UNABLE_TO_LOCK_ROW on 10% of the rows of every Bulk 2.0 write; on each
    warehouse target (WAREHOUSE=postgres: a database of the tests' Postgres server)."""
    home = tmp_path_factory.mktemp(f"e2e_main_{request.param}")
    sb = fast_acton(start(home / "sandbox", scale=SCALE, seed=5))
    p = Pipeline(sb, home, main_config(), warehouse_env(request, "e2e_main"))
    try:
        before = observe(p)
        sb.faults(
            "salesforce",
            [
                {
                    "path": "/services/data/*/jobs/ingest/*",
                    "kind": "row_error",
                    "error": "UNABLE_TO_LOCK_ROW",
                    "fraction": 0.1,
                    "seed": 3,
                }
            ],
        )
        started_at = datetime.now(UTC)
        run = p.run("sync_job")
        sb.clear_faults()
        yield FirstSync(p, before, observe(p, engagement=True), run, started_at)
    finally:
        p.close()
        sb.stop()


# -- the first run -----------------------------------------------------------------------------------------------
def test_first_run_completes_and_retries_the_locked_rows(first_sync: FirstSync) -> None:
    run = first_sync.run
    assert run.success, run.failures()
    pushed = {a: run.meta(a) for a in SF_PUSHES}
    assert sum(m["retried"] for m in pushed.values()) > 0, "the lock faults never fired"
    assert {a: m["failed"] for a, m in pushed.items()} == dict.fromkeys(SF_PUSHES, 0)
    assert all(m["succeeded"] == m["rows_sent"] for m in pushed.values())
    # and the retries really landed: nothing is left to send (checked against the systems below as well)
    assert first_sync.after.score_changes() == set()


def test_every_eligible_record_is_in_its_list_with_its_fields_and_current_score(
    first_sync: FirstSync,
) -> None:
    after = first_sync.after
    for list_name in LIST_OBJECTS:
        # the record each email stands for is the most recently modified one as the run found them
        assert first_sync.before.desired_members(list_name), f"{list_name}: no eligible records in the world"
        assert after.list_mismatches(list_name, first_sync.before) == {}, list_name
    scored = sum(1 for rows in after.lists.values() for row in rows if row["Lead Score"])
    assert scored > len(after.scores) // 2  # most members carry a score: the comparison above is not vacuous


def test_every_matched_record_carries_the_current_score(first_sync: FirstSync) -> None:
    after = first_sync.after
    matched = [(obj, r, email) for obj, r, email in after.writable() if email in after.scores]
    assert len(matched) > SCALE // 2
    for obj, r, email in matched:
        assert r[SCORE_FIELD] == rounded(after.scores[email]), f"{obj} {r['Id']} ({email})"
    # a person with no score keeps the field as it was
    unscored = [(obj, r) for obj, r, email in after.writable() if email not in after.scores]
    for obj, r in unscored:
        assert r[SCORE_FIELD] == first_sync.before.record(obj, r["Id"])[SCORE_FIELD]


def test_prospect_fields_reach_the_people_of_the_lists_assigned_to_sales(first_sync: FirstSync) -> None:
    after = first_sync.after
    prospects = set(after.desired_members(LEADS_LIST))  # only the Leads list is assigned to sales here
    window_start = first_sync.started_at - timedelta(days=90)
    with_engagement = 0
    for obj, r, email in after.writable():
        engaged = after.engagement.get(email)
        if email in prospects and engaged is not None:
            with_engagement += 1
            assert sf_time(r[LAST_ENGAGEMENT]) == engaged, f"{obj} {r['Id']}"
            high = after.scores.get(email, 0) >= 75 and engaged >= window_start
            assert bool(r[HIGH_INTENT]) == high, f"{obj} {r['Id']}"
        elif email not in prospects:
            before = first_sync.before.record(obj, r["Id"])
            assert (r[LAST_ENGAGEMENT], bool(r[HIGH_INTENT])) == (before[LAST_ENGAGEMENT], False), (
                f"{obj} {r['Id']} is not a sales prospect"
            )
    assert with_engagement > 0


def test_records_that_cannot_sync_are_reported_with_their_reason(first_sync: FirstSync) -> None:
    after = first_sync.after
    # converted leads belong to their contact's person: only the others are rejects
    invalid = {
        r["Id"]: r["Email"]
        for recs in after.records.values()
        for r in recs
        if not normalised(r["Email"]) and not r.get("IsConverted")
    }
    assert invalid, "the world has no record without a valid email"
    in_lists = {row["Salesforce Id"] for rows in after.lists.values() for row in rows}
    assert not set(invalid) & in_lists
    # the report is the analysts' read-only copy of the marts
    copy_path = Path(first_sync.pipeline.env()["ANALYTICS_PATH"])
    assert not copy_path.stat().st_mode & 0o222, "the analysts' copy is writable"
    with duckdb.connect(str(copy_path), read_only=True) as conn:
        reported = dict(
            conn.execute(
                "SELECT record_id, reason FROM marts.rejected_records WHERE source_system = 'salesforce'"
            ).fetchall()
        )
    assert {rid: reported.get(rid) for rid in invalid} == {
        rid: "missing email" if not (email or "").strip() else "invalid email"
        for rid, email in invalid.items()
    }
    assert first_sync.run.meta("acton_list_sync")["rejected"] == 0  # nothing invalid was sent to Act-On


def test_the_run_publishes_the_analysts_copy_and_the_report_images(first_sync: FirstSync) -> None:
    run = first_sync.run
    copy_meta = run.meta("analytics_copy")
    assert copy_meta["path"] == first_sync.pipeline.env()["ANALYTICS_PATH"]
    with duckdb.connect(copy_meta["path"], read_only=True) as conn:
        tables = {t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"funnel_report", "roi_report", "people"} <= tables
        (people,) = conn.execute("SELECT count(*) FROM marts.people").fetchone() or (0,)
    assert people > SCALE // 2
    charts = run.meta("report_charts")
    for key in ("funnel_path", "funnel_by_period_path", "roi_path"):
        image = Path(charts[key])
        assert image.parent == first_sync.pipeline.home / "reports"
        assert image.read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in charts["funnel"]


# -- later runs: nothing changed, then a simulated hour under permanent row errors, then the retry ---------------
def test_later_runs_send_exactly_what_changed_and_retry_only_the_failed_rows(first_sync: FirstSync) -> None:
    p, sb = first_sync.pipeline, first_sync.pipeline.sandbox

    before = calls(sb)
    second = p.run("sync_job")
    assert second.success, second.failures()
    assert {a: second.sent(a) for a in WRITEBACK} == dict.fromkeys(WRITEBACK, 0)
    spent = calls_since(sb, before)
    assert writes(spent["salesforce"]) == [] and writes(spent["acton"]) == []

    sb.simulate(hours=24, churn=0.05)
    world = observe(p)
    scores_due = world.score_changes()
    lists_due = {name: world.list_changes(name) for name in LIST_OBJECTS}
    assert scores_due, "the simulated hours changed no score"
    rule = {"kind": "row_error", "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fraction": 0.3, "seed": 4}
    sb.faults(
        "salesforce",
        [
            {**rule, "path": "/services/data/*/composite/sobjects"},
            {**rule, "path": "/services/data/*/jobs/ingest/*"},
        ],
    )
    third = p.run("sync_job")
    sb.clear_faults()
    assert third.success, third.failures()  # a permanent row error is reported, not a failed run
    assert third.sent("salesforce_score_push") == len(scores_due)
    assert third.meta("acton_list_sync")["rows_sent"] == sum(len(u) + len(r) for u, r in lists_due.values())
    failed = {a: third.meta(a)["failed"] for a in SF_PUSHES}
    succeeded = {a: third.meta(a)["succeeded"] for a in SF_PUSHES}
    assert sum(failed.values()) > 0 and sum(succeeded.values()) > 0, (failed, succeeded)
    assert succeeded["salesforce_score_push"] == len(scores_due) - failed["salesforce_score_push"]

    after = observe(p)
    still_due = after.score_changes()  # exactly the reported failures: the rest landed
    assert still_due <= scores_due and len(still_due) == failed["salesforce_score_push"]
    for name in LIST_OBJECTS:
        assert after.list_mismatches(name, world) == {}, name

    fourth = p.run("sync_job")
    assert fourth.success, fourth.failures()
    assert {a: fourth.sent(a) for a in SF_PUSHES} == failed
    assert fourth.sent("acton_list_sync") == 0
    assert observe(p).score_changes() == set()

    # the fifth run reads the retried rows back and builds; after it every input is as that build found it
    # (the sixth run reads the opt-out list and the recent rows again, unchanged), so the sixth skips the build
    fifth, sixth = p.run("sync_job"), p.run("sync_job")
    assert fifth.success and sixth.success, (fifth.failures(), sixth.failures())
    assert {a: fifth.sent(a) for a in WRITEBACK} == dict.fromkeys(WRITEBACK, 0)
    assert not dbt_skipped(fifth)
    assert dbt_skipped(sixth)
    assert "skipped" in sixth.meta("analytics_copy")  # the marts it would copy are the ones it copied
    forced = p.run("sync_job", run_config={"ops": {"dbt_models": {"config": {"always_build": True}}}})
    assert forced.success, forced.failures()
    assert not dbt_skipped(forced)
    assert {a: sixth.sent(a) for a in WRITEBACK} == dict.fromkeys(WRITEBACK, 0)


# -- opt-outs: the direction matrix ------------------------------------------------------------------------------
class People:
    """Fresh people for the matrix: one live, unconverted Salesforce record each, opted out nowhere."""

    def __init__(self, world: World, spam: set[str]):
        by_email: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for obj, recs in world.records.items():
            for r in recs:
                email = normalised(r["Email"])
                if email:
                    by_email.setdefault(email, []).append((obj, r))
        self.free = sorted(
            (email, recs[0][0], recs[0][1]["Id"])
            for email, recs in by_email.items()
            if len(recs) == 1
            and not recs[0][1].get("IsConverted")
            and not recs[0][1][OPTOUT]
            and email not in world.optouts
            and email not in spam
        )

    def take(self) -> tuple[str, str, str]:
        """(email, object, id)"""
        return self.free.pop()


def set_optout(p: Pipeline, person: tuple[str, str, str], value: bool) -> None:
    """A user checking or un-checking the box in Salesforce."""
    _, obj, rid = person
    (result,) = p.sf.update_records(obj, [{"id": rid, OPTOUT: value}])
    assert result["success"], result


def sf_opted_out(p: Pipeline, person: tuple[str, str, str]) -> bool:
    _, obj, rid = person
    (page,) = p.sf.query_pages(f"SELECT {OPTOUT} FROM {obj} WHERE Id = '{rid}'", include_deleted=False)
    return page["records"][0][OPTOUT]


def test_optout_directions_push_pull_both_and_off(shared: Pipeline) -> None:
    p, sb = shared, shared.sandbox
    spam = {normalised(r["email"]) for page in p.acton.optout_pages("spamcomplaint") for r in page["result"]}
    people = People(observe(p), spam)
    base = yaml.safe_load(SYNC_YAML.read_text())
    # every run reads Act-On's whole opt-out list, so an opt-in there shows in the next run (by default a read
    # of the whole list is at most 4 hours apart: tests/extract/test_extract.py)
    base["optouts"]["whole_list_every_hours"] = 0

    def run(
        direction: str, setup: Callable[[], None], job: str = "optout_job", runs: int = 1
    ) -> tuple[JobRun, dict[str, int], set[str]]:
        """``runs=2`` where an opt-in inside Act-On must show: it is inferred only when whole reads of the
        opt-out list in two different runs lack the email."""
        setup()
        config = copy.deepcopy(base)
        config["optouts"]["direction"] = direction
        before = calls(sb)
        for _ in range(runs):
            outcome = p.run(job, config)
            assert outcome.success, f"{direction}: {outcome.failures()}"
        return outcome, calls_since(sb, before), acton_optouts(p.acton)

    # off: a Salesforce check and an Act-On opt-out stay where they are; c and u are opted out on both sides
    a1, b1, c, u = people.take(), people.take(), people.take(), people.take()

    def off_setup() -> None:
        set_optout(p, a1, True)
        p.acton.opt_out([b1[0], c[0], u[0]])
        set_optout(p, c, True)
        set_optout(p, u, True)

    # the first run of a deployment is the whole sync; the opt-out path then runs alone on its own schedule
    first, spent, on_list = run("off", off_setup, job="sync_job")
    assert a1[0] not in on_list and not sf_opted_out(p, b1)
    assert first.sent("optout_sync") == 0  # the scores and lists went out; no opt-out did
    assert not [k for k in writes(spent["acton"]) if "optout" in k or "optin" in k]

    # push: Act-On's opt-outs check the box; an opt-in inside Act-On un-checks it; Act-On is not written
    a2, b2 = people.take(), people.take()

    def push_setup() -> None:
        set_optout(p, a2, True)
        p.acton.opt_out([b2[0]])
        p.acton.opt_in([c[0]])

    _, spent, on_list = run("push", push_setup, runs=2)
    assert sf_opted_out(p, b2) and sf_opted_out(p, b1), "push: an Act-On opt-out did not reach Salesforce"
    assert not sf_opted_out(p, c), "push: the opt-in inside Act-On did not un-check Salesforce"
    assert a2[0] not in on_list and a1[0] not in on_list and c[0] not in on_list
    assert not [k for k in writes(spent["acton"]) if "optout" in k]

    # pull: Salesforce checks reach Act-On; a Salesforce un-check opts no one back in; Salesforce is not written
    a3, b3 = people.take(), people.take()

    def pull_setup() -> None:
        set_optout(p, a3, True)
        p.acton.opt_out([b3[0]])
        set_optout(p, u, False)

    _, spent, on_list = run("pull", pull_setup)
    assert {a1[0], a2[0], a3[0]} <= on_list, "pull: a Salesforce opt-out did not reach Act-On"
    assert u[0] in on_list, "pull: a Salesforce un-check opted the email back in"
    assert not sf_opted_out(p, b3) and not sf_opted_out(p, c)
    assert c[0] not in on_list
    assert not [k for k in writes(spent["salesforce"]) if "composite" in k or "ingest" in k]

    # both: the latest consent event decides: a Salesforce re-check after the Act-On opt-in opts c out again;
    # an Act-On opt-in after the Salesforce check un-checks b2; u's opt-out is never lost
    a4, b4 = people.take(), people.take()

    def both_setup() -> None:
        set_optout(p, c, True)
        p.acton.opt_in([b2[0]])
        set_optout(p, a4, True)
        p.acton.opt_out([b4[0]])

    _, _, on_list = run("both", both_setup, runs=2)
    assert c[0] in on_list, "both: the Salesforce re-check after the Act-On opt-in did not opt out again"
    assert not sf_opted_out(p, b2), "both: the Act-On opt-in after the Salesforce check did not un-check it"
    assert a4[0] in on_list and sf_opted_out(p, b4)
    assert sf_opted_out(p, u), "both: the Act-On opt-out of an email un-checked in Salesforce was lost"


# -- invalid configurations --------------------------------------------------------------------------------------
def _edit(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    config = yaml.safe_load(SYNC_YAML.read_text())
    edit(config)
    return config


STATIC_CASES = {
    "misspelt section": (
        lambda c: c.__setitem__("optout", c.pop("optouts")),
        "optout: Extra inputs are not permitted; fix: remove it or correct its spelling",
    ),
    "unknown direction": (
        lambda c: c["lists"][0].__setitem__("direction", "sideways"),
        "lists[0].direction: Input should be 'pull', 'push', 'both' or 'off'; fix:",
    ),
    "bad schedule": (
        lambda c: c["optouts"].__setitem__("schedule", "every hour"),
        "optouts.schedule: 'every hour' has 2 fields, a cron expression has 5",
    ),
    "unknown list assigned to sales": (
        lambda c: c["sales_prospects"].__setitem__("prospects_assigned_to_sales", "SFDC Master Lead"),
        "sales_prospects.prospects_assigned_to_sales names 'SFDC Master Lead', which is not in lists; fix:",
    ),
    "list score column not the score field": (
        lambda c: c["lists"][1]["fields"].__setitem__("Lead Score", "Other_Score__c"),
        "lists[1].fields.Lead Score = 'Other_Score__c' but scores.salesforce_field is 'ActOn_Lead_Score__c'",
    ),
}


@pytest.mark.parametrize("case", STATIC_CASES)
def test_an_invalid_configuration_stops_before_any_api_call(shared: Pipeline, case: str) -> None:
    edit, message = STATIC_CASES[case]
    before = calls(shared.sandbox)
    with pytest.raises(Exception) as raised:  # the definitions loader wraps it: the chain is checked below
        shared.run("sync_job", _edit(edit))
    chain, error = [], raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    config_error = next((e for e in chain if isinstance(e, SyncConfigError)), None)
    assert config_error is not None, raised.value
    assert str(config_error).startswith(f"{shared.config_path}: invalid sync configuration:")
    assert message in str(config_error)
    assert calls_since(shared.sandbox, before) == {"salesforce": {}, "acton": {}}


def test_fields_missing_from_the_org_stop_the_run_before_any_extract_or_write(shared: Pipeline) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["scores"]["salesforce_field"] = "ActOn_Score_Typo__c"
        for lst in c["lists"]:
            lst["fields"]["Lead Score"] = "ActOn_Score_Typo__c"
        c["sales_prospects"]["high_intent_field"] = "IsDeleted"
        c["report_mapping"]["amount"] = "Amount_Typo__c"
        c["lists"][0]["fields"]["Salesforce Owner"] = "Owner.Nickname__c"

    before = calls(shared.sandbox)
    run = shared.run("sync_job", _edit(edit))
    assert not run.success
    assert run.started() == {"checks__sync_preflight"}, "a step ran after the configuration check failed"
    message = run.failures()["checks__sync_preflight"]
    source = shared.config_path
    for line in (
        f"{source}: scores.salesforce_field: Lead.ActOn_Score_Typo__c does not exist; fix: create a number(6,0) field",
        f"{source}: scores.salesforce_field: Contact.ActOn_Score_Typo__c does not exist",
        f"{source}: sales_prospects.high_intent_field: Lead.IsDeleted is not updateable; fix:",
        f"{source}: report_mapping.amount: Opportunity.Amount_Typo__c does not exist; fix: set report_mapping.amount",
        f"{source}: lists[0].fields.Salesforce Owner: User.Nickname__c does not exist",
    ):
        assert line in message
    spent = calls_since(shared.sandbox, before)
    assert spent["acton"] == {}
    assert all(
        k.endswith(("/composite", "/services/data/")) or "/oauth2/" in k for k in spent["salesforce"]
    ), spent
