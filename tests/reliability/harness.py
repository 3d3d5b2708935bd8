"""A seeded world to sync under test: a sandbox with deliberately messy records, the pipeline run as a
subprocess (so it can be killed), and the business state read back through the APIs and the marts.

Every world of one seed is identical before its first sync: the generator is seeded and the messy records are
set through ``mutate`` without moving SystemModstamp. Two worlds that end in the same business state synced the
same: that is how a run under faults or after a crash is compared with a fault-free one.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import pytest
import yaml

from common import warehouse
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.acton import RECORD_HEADINGS
from sandbox.launcher import Sandbox, start
from tests.raw_fixtures import duckdb_env
from tests.reliability.sync_process import RESULT_PREFIX

REPO = Path(__file__).resolve().parents[2]
SEED = 23
SCALE = 150
# Low thresholds so that a small org takes the Bulk paths too: the extract of Lead and Contact, the score push.
EXTRACT_BULK_THRESHOLD = 100
WRITEBACK_BULK_THRESHOLD = 60
SYNC_TIMEOUT_S = 420
PERSON_OBJECTS = ("Lead", "Contact")
# Fields the write-back sets besides the configured ones (opt-outs and hard bounces).
FIXED_WRITTEN_FIELDS = ("HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate")
NO_SUCH_ACCOUNT = "001000000000000AAA"
NO_SUCH_CONTACT = "003000000000000AAA"
NO_SUCH_USER = "005000000000000AAA"
TEXT_SPECIALS = {
    "FirstName": 'Ann "Quote", Jr.',
    "LastName": "O'Brien,\nsecond line; 'single' and \"double\"",
    "Company": 'Acme, "Inc"\r\nWidgets — ünïcødé ☃ 漢字 🙂',
}
UNICODE_NAMES = {"FirstName": "Zoë", "LastName": "Ñúñez-Łukasz 山田", "Company": "Ωmega ™ Ltd."}


# -- the messy records ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Messy:
    """A record the test made messy: which one, and the values it was given."""

    label: str
    object: str
    id: str
    fields: dict[str, Any]


def _ids(sf: SalesforceClient, soql: str) -> list[str]:
    return [r["Id"] for page in sf.query_pages(soql, include_deleted=False) for r in page["records"]]


def _lengths(sf: SalesforceClient, obj: str) -> dict[str, int]:
    return {f["name"]: int(f["length"]) for f in sf.describe(obj)["fields"]}


def messy_records(sf: SalesforceClient) -> list[Messy]:
    """The bad input every world carries: bad and duplicate emails, hostile text, strings at and over their
    field's length, null amounts and dates, orphan references, and one email on a Lead and a Contact that
    disagree about the opt-out. Records are picked by Id order, so each world of a seed picks the same."""
    leads = _ids(
        sf,
        "SELECT Id FROM Lead WHERE IsConverted = false AND Email != null AND HasOptedOutOfEmail = false "
        "ORDER BY Id LIMIT 12",
    )
    contacts = _ids(
        sf, "SELECT Id FROM Contact WHERE Email != null AND HasOptedOutOfEmail = false ORDER BY Id LIMIT 3"
    )
    opportunities = _ids(sf, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 2")
    lead_len = _lengths(sf, "Lead")
    contact_len = _lengths(sf, "Contact")
    conflict_email = "Consent.Conflict@Example.net"
    return [
        Messy("missing_email", "Lead", leads[0], {"Email": None}),
        Messy("blank_email", "Lead", leads[1], {"Email": "   "}),
        Messy("invalid_email", "Lead", leads[2], {"Email": "not-an-email"}),
        Messy("double_at_email", "Lead", leads[3], {"Email": "two@@example.com"}),
        Messy("mixed_case_email", "Lead", leads[4], {"Email": "  Mixed.Case+Tag@Example.COM "}),
        Messy("duplicate_email_a", "Lead", leads[5], {"Email": "Dup.Person@example.org"}),
        Messy("duplicate_email_b", "Lead", leads[6], {"Email": "dup.person@EXAMPLE.org"}),
        Messy("text_specials", "Lead", leads[7], dict(TEXT_SPECIALS)),
        Messy("unicode", "Lead", leads[8], dict(UNICODE_NAMES)),
        Messy(
            "at_length",
            "Lead",
            leads[9],
            {f: f[0] * lead_len[f] for f in ("FirstName", "LastName", "Company")},
        ),
        Messy(
            "over_length",
            "Lead",
            leads[10],
            {"LastName": "O" * (lead_len["LastName"] + 20), "Company": "P" * (lead_len["Company"] + 45)},
        ),
        Messy(
            "optout_conflict_lead", "Lead", leads[11], {"Email": conflict_email, "HasOptedOutOfEmail": True}
        ),
        Messy(
            "optout_conflict_contact",
            "Contact",
            contacts[0],
            {"Email": conflict_email.lower(), "HasOptedOutOfEmail": False},
        ),
        Messy(
            "contact_text_specials",
            "Contact",
            contacts[1],
            {f: TEXT_SPECIALS[f] for f in ("FirstName", "LastName")},
        ),
        Messy(
            "contact_at_length",
            "Contact",
            contacts[2],
            {f: f[0] * contact_len[f] for f in ("FirstName", "LastName")},
        ),
        Messy("null_amount_and_date", "Opportunity", opportunities[0], {"Amount": None, "CloseDate": None}),
        Messy("orphan_opportunity_account", "Opportunity", opportunities[1], {"AccountId": NO_SUCH_ACCOUNT}),
    ]


def orphan_records(sf: SalesforceClient) -> list[Messy]:
    """References to records the org does not have (a warehouse sees them whenever a parent is created or
    deleted between two objects' extracts)."""
    contact = _ids(sf, "SELECT Id FROM Contact WHERE Email != null ORDER BY Id DESC LIMIT 1")[0]
    lead = _ids(
        sf, "SELECT Id FROM Lead WHERE IsConverted = false AND Email != null ORDER BY Id DESC LIMIT 1"
    )[0]
    role = _ids(sf, "SELECT Id FROM OpportunityContactRole ORDER BY Id LIMIT 1")[0]
    return [
        Messy("orphan_owner", "Lead", lead, {"OwnerId": NO_SUCH_USER}),
        Messy("orphan_account", "Contact", contact, {"AccountId": NO_SUCH_ACCOUNT}),
        Messy("orphan_contact_role", "OpportunityContactRole", role, {"ContactId": NO_SUCH_CONTACT}),
    ]


def _mutate_ops(records: list[Messy]) -> list[dict[str, Any]]:
    return [
        {
            "op": "set",
            "object": m.object,
            "id": m.id,
            "fields": m.fields,
            "touch": False,
        }
        for m in records
    ]


# -- the business state ---------------------------------------------------------------------------------------
Facts = dict[str, Any]


def _written_fields(config_path: Path) -> list[str]:
    data = yaml.safe_load(config_path.read_text())
    prospects = data["sales_prospects"]
    return [
        data["scores"]["salesforce_field"],
        prospects["high_intent_field"],
        prospects["last_engagement_field"],
        *FIXED_WRITTEN_FIELDS,
    ]


def salesforce_facts(sf: SalesforceClient, fields: list[str]) -> Facts:
    """Every field the sync writes, on every live Lead and Contact."""
    facts: Facts = {}
    for obj in PERSON_OBJECTS:
        soql = f"SELECT Id, {', '.join(fields)} FROM {obj} ORDER BY Id"
        for page in sf.query_pages(soql, include_deleted=False):
            for r in page["records"]:
                for f in fields:
                    facts[f"salesforce/{obj}/{r['Id']}/{f}"] = r.get(f)
    return facts


def list_members(acton: ActOnClient, list_id: str) -> list[dict[str, str]]:
    """A list's records as heading -> value, read through its CSV download (Act-On's own ids and dates left out)."""
    rows = list(csv.reader(io.StringIO(acton.list_csv(list_id).decode("utf-8"))))
    if not rows:
        return []
    headers = rows[0]
    return [{h: v for h, v in zip(headers, row, strict=True) if not h.startswith("_")} for row in rows[1:]]


def email_of(member: dict[str, str]) -> str | None:
    aliases = RECORD_HEADINGS["email"]
    return next((v for h, v in member.items() if h.strip().lower() in aliases), None)


def lists_by_name(acton: ActOnClient) -> dict[str, str]:
    return {entry["name"]: str(entry["id"]) for page in acton.lists() for entry in page.get("result") or []}


def acton_facts(acton: ActOnClient) -> Facts:
    """Every list's members (by normalised email, with their columns and how many records share the email),
    and Act-On's opt-out list."""
    facts: Facts = {}
    for name, list_id in lists_by_name(acton).items():
        members = list_members(acton, list_id)
        copies = Counter((email_of(m) or "").strip().lower() for m in members)
        for m in members:
            email = (email_of(m) or "").strip().lower()
            facts[f"acton/list/{name}/{email}/records"] = copies[email]
            for heading, value in m.items():
                facts[f"acton/list/{name}/{email}/{heading}"] = value
    for page in acton.optout_pages("optout"):
        for r in page.get("result") or []:
            facts[f"acton/optout/{r['email'].strip().lower()}"] = True
    return facts


def marts_facts(conn: duckdb.DuckDBPyConnection) -> Facts:
    """Each marts table's rows (as counted multisets), timestamps left out: they tell when a run happened, and
    doubles to 9 significant digits."""
    facts: Facts = {}
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
    ).fetchall()
    for (table,) in tables:
        columns = [
            name
            for name, dtype in conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if not dtype.startswith("TIMESTAMP") and name != "run_id"
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        for row in conn.execute(f'SELECT {select} FROM marts."{table}"').fetchall():
            # sums of doubles come out in the order of a parallel aggregate: equal to 9 significant digits
            values = [float(f"{v:.9g}") if isinstance(v, float) else v for v in row]
            key = f"marts/{table}/" + json.dumps(
                dict(zip(columns, values, strict=True)), default=str, sort_keys=True
            )
            facts[key] = facts.get(key, 0) + 1
    return facts


def differences(expected: Facts, actual: Facts, limit: int = 40) -> list[str]:
    """Readable lines for the facts that differ (missing, extra or changed)."""
    out = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual:
            out.append(f"missing  {key} = {expected[key]!r}")
        elif key not in expected:
            out.append(f"extra    {key} = {actual[key]!r}")
        elif expected[key] != actual[key]:
            out.append(f"changed  {key}: {expected[key]!r} -> {actual[key]!r}")
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


# -- syncing ----------------------------------------------------------------------------------------------------
@dataclass
class SyncRun:
    """One sync_job process: its output, its Dagster run id and outcome (None when it was killed)."""

    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    run_id: str | None = None
    success: bool | None = None
    killed: bool = False

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line.removeprefix(RESULT_PREFIX))
                self.run_id, self.success = result["run_id"], result["success"]

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def kill_when(self, condition: Callable[[], bool], timeout: float = SYNC_TIMEOUT_S) -> None:
        """SIGKILL the process as soon as ``condition()`` holds (polled); fail if it ends first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(f"the sync ended before the kill point:\n{self.output[-3000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail("the kill point was never reached")
            time.sleep(0.02)
        # the whole process group, as an OOM killer or a lost node would: dbt's process dies with the run
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.killed = True
        self.wait()

    def wait(self, timeout: float = SYNC_TIMEOUT_S) -> SyncRun:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"sync_job did not finish within {timeout}s:\n{self.output[-3000:]}")
        self._reader.join(timeout=10)
        return self


@dataclass
class World:
    root: Path
    sandbox: Sandbox
    env: dict[str, str]
    messy: dict[str, Messy] = field(default_factory=dict)
    runs: list[SyncRun] = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return Path(self.env["WAREHOUSE_PATH"])

    @property
    def config_path(self) -> Path:
        return Path(self.env["SYNC_CONFIG"])

    @functools.cached_property
    def salesforce(self) -> SalesforceClient:
        return SalesforceClient.from_env(self.env)

    @functools.cached_property
    def acton(self) -> ActOnClient:
        return ActOnClient.from_env(self.env)

    def start_sync(
        self, command: Sequence[str] = (sys.executable, "-m", "tests.reliability.sync_process")
    ) -> SyncRun:
        """A sync in a process group of its own (killable as a whole): by default ``sync_job`` in process."""
        proc = subprocess.Popen(
            list(command),
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        run = SyncRun(proc)
        self.runs.append(run)
        return run

    def sync(self) -> SyncRun:
        return self.start_sync().wait()

    def sync_until_converged(self, max_runs: int = 4) -> list[SyncRun]:
        """Run sync_job until a run succeeds with no row left failed; the runs it took."""
        runs = []
        for _ in range(max_runs):
            run = self.sync()
            runs.append(run)
            if run.success and not self.failed_rows(run.run_id):
                return runs
        pytest.fail(
            f"no clean run in {max_runs} attempts; last failed rows: {self.failed_rows(runs[-1].run_id)[:10]}\n"
            f"{runs[-1].output[-3000:]}"
        )

    def settle(self, max_runs: int = 5) -> list[SyncRun]:
        """Run until a run succeeds having nothing left to send: the fixed point, where the marts (built from
        the state extracted before the run's own write-back) describe what the write-backs made."""
        runs: list[SyncRun] = []
        while True:
            runs += self.sync_until_converged(max_runs - len(runs))
            if not self.rows_sent(runs[-1].run_id):
                return runs
            if len(runs) >= max_runs:
                pytest.fail(f"still sending rows after {max_runs} runs")

    def rows_sent(self, run_id: str | None) -> int:
        """Rows the run's write-back recorded (sent, retried or failed)."""
        return self.query("SELECT count(*) FROM sync_state.writeback_results WHERE run_id = ?", [run_id])[0][
            0
        ]

    @contextmanager
    def warehouse_conn(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = warehouse.connect(env=self.env, read_only=True)
        try:
            yield conn
        finally:
            conn.close()

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        with self.warehouse_conn() as conn:
            return conn.execute(sql, params or []).fetchall()

    def failed_rows(self, run_id: str | None) -> list[tuple]:
        return self.query(
            "SELECT system, object, record_id, field, error_code FROM sync_state.writeback_results "
            "WHERE run_id = ? AND status = 'failed' ORDER BY ALL",
            [run_id],
        )

    def ledger_optouts(self) -> set[str]:
        """Normalised emails the consent ledger has seen opted out (in either system)."""
        return {
            e
            for (e,) in self.query(
                "SELECT DISTINCT lower(trim(email)) FROM sync_state.consent_ledger WHERE new_value = 'true'"
            )
        }

    def facts(self) -> Facts:
        """The business state: Salesforce's written fields, Act-On's lists and opt-outs, the marts."""
        with self.warehouse_conn() as conn:
            marts = marts_facts(conn)
        return {
            **salesforce_facts(self.salesforce, _written_fields(self.config_path)),
            **acton_facts(self.acton),
            **marts,
        }

    def stats(self, system: str) -> dict[str, int]:
        return self.sandbox.stats(system)["by_endpoint"]


def start_world(
    root: Path,
    seed: int = SEED,
    scale: int = SCALE,
    orphans: bool = False,
    warehouse_env: Mapping[str, str] = MappingProxyType({}),
) -> World:
    """A sandbox of ``seed`` with the messy records (and the orphan references if asked), and the
    environment a sync of it runs with: the DuckDB file under ``root``, unless ``warehouse_env`` names another
    warehouse."""
    sandbox = start(root / "sandbox", scale=scale, seed=seed)
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = yaml.safe_load((REPO / "sync.yaml").read_text())
    config["writeback"]["bulk_threshold"] = WRITEBACK_BULK_THRESHOLD
    (root / "sync.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {
        **os.environ,
        **sandbox.env,
        **duckdb_env(root / "warehouse.duckdb"),
        "TOKEN_CACHE_PATH": str(root / "tokens.json"),
        "DAGSTER_HOME": str(home),
        "SYNC_CONFIG": str(root / "sync.yaml"),
        "SALESFORCE_BULK_THRESHOLD": str(EXTRACT_BULK_THRESHOLD),
        "PYTHONUNBUFFERED": "1",
        **warehouse_env,
    }
    world = World(root, sandbox, env)
    try:
        records = messy_records(world.salesforce) + (orphan_records(world.salesforce) if orphans else [])
        sandbox.admin("salesforce", "POST", "mutate", {"ops": _mutate_ops(records)})
    except BaseException:
        sandbox.stop()
        raise
    world.messy = {m.label: m for m in records}
    return world


def outside_the_warehouse(facts: Facts) -> Facts:
    """The facts of the two systems alone (the marts lag one run behind the write-back they describe)."""
    return {k: v for k, v in facts.items() if not k.startswith("marts/")}


@dataclass
class Baseline:
    """A fault-free world synced to its fixed point: the first run writes, the second finds nothing to send."""

    world: World
    runs: list[SyncRun]
    first_run_facts: Facts
    facts: Facts


_baselines: dict[int, Baseline] = {}


def baseline(factory: pytest.TempPathFactory) -> Baseline:
    """The session's one fault-free world, shared by the reliability, bad-input and security tests (each of
    their modules has a fixture for it; the session's one tmp_path_factory keys it)."""
    if id(factory) not in _baselines:
        _baselines[id(factory)] = _synced_baseline(factory)
    return _baselines[id(factory)]


def _synced_baseline(factory: pytest.TempPathFactory) -> Baseline:
    world = start_world(factory.mktemp("baseline"))
    try:
        first = world.sync()
        assert first.success, f"the fault-free sync failed:\n{first.output[-5000:]}"
        first_facts = world.facts()
        second = world.sync()
        assert second.success, f"the second fault-free sync failed:\n{second.output[-5000:]}"
    except BaseException:
        world.sandbox.stop()
        raise
    return Baseline(world, [first, second], first_facts, world.facts())
