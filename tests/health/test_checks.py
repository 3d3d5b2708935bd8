"""The eight checks against a real synced world: one sandbox and one full sync_job for the module, then each
check sees its own breakage (the setup guide's troubleshooting list, plus the failures nobody else catches).

The sync and the doctor run in subprocesses, as `make` runs them: the orchestration resolves its warehouse path
and environment at import, so an in-process run after other test modules would point at theirs. Checks that
need no refresh run directly as functions against the synced warehouse (read-only)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from common.sync_config import load_sync_config
from common.warehouse import get_watermark, utc_now
from health import Status
from health.budget import check_api_budget, projected_calls
from health.completeness import check_extraction_complete
from health.freshness import AssetFreshness, check_freshness, expected_cron
from health.lists import check_records_missing_in_acton
from health.optouts import check_optout_mismatch
from health.reports import check_reports_incomplete
from health.schema_contract import check_schema_contract
from health.scores import check_scores_not_updating
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox, start

ROOT = Path(__file__).resolve().parents[2]
SCALE = 200
SCORE_FIELD = "ActOn_Lead_Score__c"
TITLES = (
    "Records missing in Act-On",
    "Scores not updating in Salesforce",
    "Unsubscribe status mismatch",
    "Funnel or ROI report empty or incomplete",
    "Extraction completeness",
    "Schema contract",
    "API budget",
    "Freshness",
    "Opt-out list read held",
)
# sync_job in a fresh process (or, without its checks, every asset: dbt then skips its tests); prints every asset
# check it evaluated.
SYNC_SCRIPT = """
import sys
import dagster as dg
from orchestration.definitions import defs
definitions = defs()
if sys.argv[1] == "without-checks":
    job = dg.define_asset_job("sync_without_checks", selection=dg.AssetSelection.all().without_checks())
    definitions = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job]))
job = definitions.resolve_job_def("sync_job" if sys.argv[1] == "with-checks" else "sync_without_checks")
result = job.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)
for e in result.get_asset_check_evaluations():
    print("CHECK", e.asset_key.to_user_string(), e.check_name, e.passed, e.description, sep="|")
for e in result.all_events:
    if e.is_step_failure:
        print("STEP FAILED", e.step_key, e.event_specific_data.error.message)
sys.exit(0 if result.success else 1)
"""


@dataclass
class World:
    sandbox: Sandbox
    env: dict[str, str]
    root: Path

    @property
    def warehouse(self) -> Path:
        return Path(self.env["WAREHOUSE_PATH"])

    def run(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, **({"SYNC_CONFIG": str(config)} if config else {})}
        return subprocess.run(
            [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )

    def sync(self, with_checks: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("-c", SYNC_SCRIPT, "with-checks" if with_checks else "without-checks")

    def write_config(self, name: str, **changes: Any) -> Path:
        """A copy of the repository's sync.yaml with ``changes`` (``section={key: value}``) applied."""
        data = yaml.safe_load((ROOT / "sync.yaml").read_text())
        for section, values in changes.items():
            if isinstance(values, dict):
                data[section].update(values)
            else:
                data[section] = values
        path = self.root / name
        path.write_text(yaml.safe_dump(data))
        return path

    def salesforce(self) -> SalesforceClient:
        return SalesforceClient.from_env(self.env)

    def acton(self) -> ActOnClient:
        return ActOnClient.from_env(self.env)

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)


def start_world(root: Path, seed: int) -> World:
    sandbox = start(root / "sandbox", scale=SCALE, seed=seed)
    env = {
        **sandbox.env,
        "WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "TOKEN_CACHE_PATH": str(root / "tokens.json"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    world = World(sandbox, env, root)
    env["SYNC_CONFIG"] = str(world.write_config("sync.yaml"))
    return world


def check_lines(output: str) -> dict[str, str]:
    """Doctor output: title -> its verdict line and the indented lines under it."""
    found: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("[") and "] " in line:
            current = line.split("] ", 1)[1].split(":", 1)[0]
            found[current] = line
        elif current and line.startswith("       "):
            found[current] += "\n" + line
        else:
            current = None
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = start_world(tmp_path_factory.mktemp("checks"), seed=11)
    synced = w.sync()
    w.sync_output = synced.stdout  # type: ignore[attr-defined]
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    yield w
    w.sandbox.stop()


# -- a healthy run -------------------------------------------------------------------------------------------
def test_every_check_passes_on_a_healthy_run(world: World) -> None:
    evaluated = [line.split("|") for line in world.sync_output.splitlines() if line.startswith("CHECK|")]  # type: ignore[attr-defined]
    ours = {
        "records_missing_in_acton",
        "scores_not_updating",
        "optout_mismatch",
        "reports_incomplete",
        "extraction_complete",
        "schema_contract",
        "api_budget",
    }
    mine = [e for e in evaluated if e[2] in ours]
    assert {e[2] for e in mine} == ours
    assert len([e for e in mine if e[2] == "extraction_complete"]) == 9
    assert len([e for e in mine if e[2] == "schema_contract"]) == 7
    assert [e for e in mine if e[3] != "True"] == []

    doctor = world.run("-m", "orchestration.doctor", "--no-refresh")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = check_lines(doctor.stdout)
    assert set(lines) == set(TITLES)
    assert all(line.startswith("[PASS]") for line in lines.values()), doctor.stdout
    assert "9 of 9 checks passed" in doctor.stdout


# -- checks that read Salesforce live ------------------------------------------------------------------------
def test_a_renamed_field_breaks_the_schema_contract_which_blocks_the_write_back(world: World) -> None:
    from common.dbt_manifest import sync_models
    from orchestration.defs.dbt import prepared_manifest
    from orchestration.defs.health import api_budget, schema_contract_check

    models = sync_models(prepared_manifest())
    specs = list(schema_contract_check(models).check_specs)
    assert {s.asset_key.path[-1] for s in specs} == set(models)
    assert all(s.blocking for s in specs) and all(s.blocking for s in api_budget.check_specs)

    config, source = load_sync_config(world.env["SYNC_CONFIG"]), world.env["SYNC_CONFIG"]
    rename = {"op": "rename_field", "object": "Contact", "field": SCORE_FIELD, "new_name": "Score_Renamed__c"}
    world.sandbox.admin("salesforce", "POST", "mutate", {"ops": [rename]})
    sf = world.salesforce()
    try:
        result = check_schema_contract(sf, config, source)
        assert result.status is Status.FAIL
        assert f"scores.salesforce_field: Contact.{SCORE_FIELD} does not exist" in result.summary
        assert "write-back is stopped before it sends anything" in result.summary
        assert "update sync.yaml to the field's new API name" in result.remediation
    finally:
        back = {**rename, "field": "Score_Renamed__c", "new_name": SCORE_FIELD}
        world.sandbox.admin("salesforce", "POST", "mutate", {"ops": [back]})
    sf.session.close()
    sf = world.salesforce()  # the next run's client: describes are cached for a run
    assert check_schema_contract(sf, config, source).status is Status.PASS

    # a field of the wrong type: the contract names the type it needs
    wrong = world.write_config("wrong_type.yaml", report_mapping={"amount": "StageName"})
    result = check_schema_contract(sf, load_sync_config(wrong), wrong)
    assert result.status is Status.FAIL
    assert "report_mapping.amount: Opportunity.StageName is of type picklist" in result.summary
    sf.session.close()


def test_a_tightened_budget_fails_the_budget_check(world: World) -> None:
    sf, acton = world.salesforce(), world.acton()
    projected = projected_calls({"salesforce": 100, "acton": 60})
    try:
        used = sf.limits()["DailyApiRequests"]
        spent = int(used["Max"]) - int(used["Remaining"])
        world.sandbox.admin("salesforce", "POST", "limits", {"salesforce_daily_api_max": spent + 20})
        result = check_api_budget(sf, acton, projected)
        assert result.status is Status.FAIL
        assert "the next run would exhaust the daily API budget" in result.summary
        assert "Salesforce:" in result.summary and "wait for the budget to reset" in result.remediation
        assert result.counts["salesforce.projected"] == projected["salesforce"]

        # room for the run but past 80%: a warning, which does not block
        room = projected["salesforce"] + 30
        world.sandbox.admin("salesforce", "POST", "limits", {"salesforce_daily_api_max": spent + room})
        result = check_api_budget(sf, acton, projected)
        assert result.status is Status.WARN and result.passed
        assert "running low" in result.summary
    finally:
        world.sandbox.admin("salesforce", "POST", "limits", {"salesforce_daily_api_max": 100_000})
    assert check_api_budget(sf, acton, projected).status is Status.PASS
    assert result.counts["acton.max"] == 30_000 and result.counts["acton.used"] == acton.spent_today() > 0
    sf.session.close()
    acton.session.close()


def test_a_missed_scheduled_run_fails_freshness(world: World) -> None:
    config = load_sync_config(world.env["SYNC_CONFIG"])
    now = utc_now()
    assets = [
        AssetFreshness(name, expected_cron(name, config), expected_cron(name, config), now)
        for name in ("raw_salesforce/lead", "acton_list_sync", "salesforce_score_push", "optout_sync")
    ]
    assert check_freshness(assets, now).status is Status.PASS
    # three hourly list ticks without a run; the opt-out schedule (every 4 hours) missed none
    later = check_freshness(assets, now + timedelta(hours=3))
    assert later.status is Status.FAIL
    # the raw asset too: every list's path extracts it
    assert later.summary.startswith("3 assets were not refreshed by either of their last two scheduled runs")
    assert later.counts["unscheduled"] == 0
    assert "schedules are on" in later.remediation
    unmatched = [AssetFreshness("acton_list_sync", "0 * * * *", None, now)]
    assert "no freshness policy matching their schedule" in check_freshness(unmatched, now).summary


# -- four breakages that need a refresh (extract and dbt): applied together, one doctor run --------------------
@dataclass
class Broken:
    output: str
    returncode: int
    config: Path
    new_leads: list[str]
    rescored: list[str]
    opted_out: str


def _contacts(conn: duckdb.DuckDBPyConnection, n: int, offset: int = 0) -> list[tuple[str, str]]:
    """(Id, normalised email) of contacts with a score in Act-On, not opted out anywhere."""
    return conn.execute(
        """select c."Id", lower(trim(c."Email")) from raw_salesforce.contact c
           join raw_acton.contacts a on lower(trim(a.email)) = lower(trim(c."Email"))
           where not c."IsDeleted" and not c."HasOptedOutOfEmail" and a.score > 0
             and lower(trim(c."Email")) not in (select lower(trim(email)) from raw_acton.optouts)
             and lower(trim(c."Email")) not in
                 (select lower(trim("Email")) from raw_salesforce.lead where "Email" is not null)
           order by c."Id" limit ? offset ?""",
        [n, offset],
    ).fetchall()


@pytest.fixture(scope="module")
def broken(world: World) -> Broken:
    """The Leads list's direction set to off (and two new Leads), scores changed in Act-On after the push, an
    opt-out set by hand in Salesforce, the amount mapped to an empty field; then `make doctor`."""
    with world.connect() as conn:
        rescored, hand = _contacts(conn, 3), _contacts(conn, 1, offset=3)[0]
    sf = world.salesforce()
    new_leads = [
        sf.sf.Lead.create(
            {"LastName": f"Newlead{i}", "Company": "Checks Inc", "Email": f"new.lead{i}@checks.example"}
        )["id"]
        for i in range(2)
    ]
    sf.session.close()
    store = sqlite3.connect(world.sandbox.data_dir / "sandbox.sqlite", timeout=30)
    with store:
        store.executemany(
            "UPDATE acton_contacts SET score = (score + 17) % 100, updated_at = ? WHERE email_norm = ?",
            [(int(time.time()), email) for _, email in rescored],
        )
    store.close()
    world.sandbox.admin(
        "salesforce",
        "POST",
        "mutate",
        {
            "ops": [
                {"op": "set", "object": "Contact", "id": hand[0], "fields": {"HasOptedOutOfEmail": True}},
                {
                    "op": "add_field",
                    "object": "Opportunity",
                    "field": "Net_Amount__c",
                    "type": "currency",
                    "precision": 18,
                    "scale": 2,
                },
            ]
        },
    )
    lists = yaml.safe_load((ROOT / "sync.yaml").read_text())["lists"]
    lists[1]["direction"] = "off"
    config = world.write_config("broken.yaml", lists=lists, report_mapping={"amount": "Net_Amount__c"})
    doctor = world.run("-m", "orchestration.doctor", config=config)
    return Broken(
        doctor.stdout + doctor.stderr, doctor.returncode, config, new_leads, [e for _, e in rescored], hand[1]
    )


def test_doctor_exits_non_zero_and_prints_each_failure_with_what_to_do(broken: Broken) -> None:
    assert broken.returncode == 1, broken.output
    lines = check_lines(broken.output)
    assert set(lines) == set(TITLES), broken.output
    for title in TITLES[:4]:
        assert lines[title].startswith("[FAIL]") and "what to do:" in lines[title], lines[title]
    assert lines["Schema contract"].startswith("[PASS]")
    assert "failing: records_missing_in_acton, scores_not_updating, optout_mismatch, reports_incomplete" in (
        broken.output
    )


def test_a_list_with_direction_off_shows_its_records_missing(world: World, broken: Broken) -> None:
    with world.connect() as conn:
        result = check_records_missing_in_acton(conn, load_sync_config(broken.config))
    assert result.status is Status.FAIL
    missing = {r["salesforce_id"] for r in result.samples if r.get("list_name") == "SFDC Master Leads"}
    assert set(broken.new_leads) <= missing
    assert {r["cause"] for r in result.samples} == {"list sync not enabled (direction off)"}
    assert "from 'SFDC Master Leads'" in result.summary
    assert "set lists[1].direction in sync.yaml to pull or both" in result.remediation
    assert "eligible Salesforce records are missing in Act-On" in check_lines(broken.output)[TITLES[0]]


def test_scores_changed_in_acton_after_the_push_show_as_not_updating(world: World, broken: Broken) -> None:
    sf = world.salesforce()
    with world.connect() as conn:
        result = check_scores_not_updating(conn, sf, load_sync_config(broken.config))
    sf.session.close()
    assert result.status is Status.FAIL
    assert {r["email"] for r in result.samples} >= set(broken.rescored)
    changed = [r for r in result.samples if r["email"] in broken.rescored]
    assert {r["cause"] for r in changed} == {"maintenance and push did not run"}
    assert "scores changed in Act-On after the last list maintenance and push" in result.remediation
    assert "maintenance (list sync) scheduled before the Salesforce score push" in result.remediation


def test_an_optout_set_by_hand_in_salesforce_shows_as_a_mismatch(world: World, broken: Broken) -> None:
    with world.connect() as conn:
        result = check_optout_mismatch(conn, load_sync_config(broken.config))
    assert result.status is Status.FAIL
    mine = [r for r in result.samples if r["email"] == broken.opted_out]
    assert len(mine) == 1 and mine[0]["behind"] == "acton" and mine[0]["source_event"] == "salesforce_check"
    assert "opted out in Salesforce are not on Act-On's opt-out list" in result.summary
    assert "review the direction" in result.remediation and "HasOptedOutOfEmail" in result.remediation


def test_an_unmapped_amount_makes_the_reports_incomplete(world: World, broken: Broken) -> None:
    with world.connect() as conn:
        result = check_reports_incomplete(conn, load_sync_config(broken.config))
    assert result.status is Status.FAIL
    assert result.counts["missing_share.amount"] == 1.0
    assert (
        "100% of" in result.summary and "no amount (report_mapping.amount = Net_Amount__c)" in result.summary
    )
    assert "review your report mapping: set report_mapping.amount" in result.remediation
    assert result.samples and all(r["amount"] is None for r in result.samples)


# -- last: deletes and a change behind the cursor cannot be undone --------------------------------------------
def test_hard_deletes_and_changes_behind_the_cursor_break_extraction_completeness(world: World) -> None:
    sf = world.salesforce()
    assert sf.token["access_token"]
    with world.connect() as conn:
        before = world.sandbox.stats("salesforce")["total"]
        assert check_extraction_complete(conn, sf, ["Lead", "Contact"]).status is Status.PASS
        # three COUNT() queries an object (all rows, the deleted ones, the window), five to a Composite call
        assert world.sandbox.stats("salesforce")["total"] - before == 2
        leads = [
            r[0]
            for r in conn.execute(
                'select "Id" from raw_salesforce.lead where not "IsDeleted" order by "Id" limit 2'
            ).fetchall()
        ]
        mark = get_watermark(conn, "salesforce", "Contact")
        assert mark
        top = datetime.fromisoformat(mark.replace("Z", "+00:00")).replace(tzinfo=None)
        oldest_id, oldest = conn.execute(
            'select "Id", "SystemModstamp" from raw_salesforce.contact order by "SystemModstamp", "Id" limit 1'
        ).fetchone()  # type: ignore[misc]
    window = (top - oldest) / 2
    behind = top - window / 2  # inside the window, before the watermark: a change committed behind the cursor
    stamp = behind.strftime("%Y-%m-%dT%H:%M:%S.") + f"{behind.microsecond // 1000:03d}+0000"
    world.sandbox.admin(
        "salesforce",
        "POST",
        "mutate",
        {
            "ops": [
                {"op": "hard_delete", "object": "Lead", "ids": leads},
                {
                    "op": "set",
                    "object": "Contact",
                    "id": oldest_id,
                    "fields": {"Title": "Changed behind the cursor", "SystemModstamp": stamp},
                    "touch": False,
                },
            ]
        },
    )
    with world.connect() as conn:
        result = check_extraction_complete(conn, sf, ["Lead", "Contact"], window=window)
    sf.session.close()
    assert result.status is Status.FAIL
    assert "Lead: the warehouse has 2 more live Lead rows than Salesforce" in result.summary
    assert "Contact: 1 Contact rows changed in the window before the watermark are not in the warehouse" in (
        result.summary
    )
    assert "force the extract's reconciliation" in result.remediation
    assert {r["object"] for r in result.samples} == {"Lead", "Contact"}
