"""Sales-prospect fields turned off: an org without the two fields sales see, and a sync.yaml that sets both to
null. The preflight passes, a whole `sync_job` runs (in a subprocess, as `make sync` runs it) and writes every
other field but no prospect field, and `make doctor` agrees that all is well."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.sync_config import load_sync_config
from health.preflight import preflight
from tests.health.test_checks import TITLES, World, check_lines, start_world

PROSPECT_FIELDS = ("ActOn_High_Intent__c", "ActOn_Last_Engagement__c")
OBJECTS = ("Lead", "Contact")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = start_world(tmp_path_factory.mktemp("prospects_off"), seed=17)
    w.write_config("sync.yaml", sales_prospects=dict.fromkeys(("high_intent_field", "last_engagement_field")))
    ops = [{"op": "drop_field", "object": o, "field": f} for o in OBJECTS for f in PROSPECT_FIELDS]
    w.sandbox.admin("salesforce", "POST", "mutate", {"ops": ops})
    yield w
    w.sandbox.stop()


def test_an_org_without_the_prospect_fields_syncs_everything_else(world: World) -> None:
    sf = world.salesforce()
    try:
        described = {o: {f["name"] for f in sf.describe(o)["fields"]} for o in OBJECTS}
        assert all(not set(PROSPECT_FIELDS) & names for names in described.values())  # the org lacks them
        path = Path(world.env["SYNC_CONFIG"])
        config = load_sync_config(path)
        assert config.sales_prospects.written_fields() == []
        preflight(sf, config, path)  # raises when the configuration demands a field the org lacks
    finally:
        sf.session.close()

    synced = world.sync()
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    checks = [line.split("|") for line in synced.stdout.splitlines() if line.startswith("CHECK|")]
    assert checks and [c for c in checks if c[3] != "True"] == []

    with world.connect() as conn:
        written = dict(
            conn.execute(
                "SELECT field, count(*) FROM sync_state.writeback_results "
                "WHERE system = 'salesforce' AND status = 'success' GROUP BY field"
            ).fetchall()
        )
        assert conn.execute("SELECT count(*) FROM sync.salesforce_prospect_updates").fetchone() == (0,)
    assert written.get("ActOn_Lead_Score__c", 0) > 0, written  # the sync wrote Salesforce...
    assert not set(PROSPECT_FIELDS) & set(written), written  # ...but no prospect field

    doctor = world.run("-m", "orchestration.doctor", "--no-refresh")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = check_lines(doctor.stdout)
    assert set(lines) == set(TITLES)
    assert all(line.startswith("[PASS]") for line in lines.values()), doctor.stdout
