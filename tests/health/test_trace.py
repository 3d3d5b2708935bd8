"""`make trace` on a synced world: a record that synced, a record rejected for its email, and a record whose
score write failed (a validation rule fails a share of Salesforce's rows during the sync)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.health.test_checks import World, start_world

FAILING_RULE = {
    "path": "/services/data/*/composite/sobjects",
    "kind": "row_error",
    "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "fraction": 0.05,
    "seed": 3,
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = start_world(tmp_path_factory.mktemp("trace"), seed=5)
    # every Salesforce write through sObject Collections, where the rule fails some rows
    w.env["SYNC_CONFIG"] = str(w.write_config("sync.yaml", writeback={"bulk_threshold": 100_000}))
    w.sandbox.faults("salesforce", [FAILING_RULE])
    result = w.sync(with_checks=False)  # the checks are test_checks' business; dbt skips its tests too
    assert "STEP FAILED" not in result.stdout, result.stdout[-3000:]
    yield w
    w.sandbox.stop()


def trace(world: World, query: str) -> tuple[int, str]:
    result = world.run("-m", "health.trace", query)
    return result.returncode, result.stdout + result.stderr


def section(output: str, title: str) -> str:
    """The lines of one section of the trace."""
    body = output.split(f"== {title}\n", 1)[1]
    return body.split("\n== ", 1)[0]


def one(world: World, sql: str) -> tuple:
    with world.connect() as conn:
        row = conn.execute(sql).fetchone()
    assert row, sql
    return row


def test_a_synced_record(synced: World) -> None:
    record_id, email = one(
        synced,
        """select w.record_id, lower(trim(c."Email")) from sync_state.writeback_results w
           join raw_salesforce.contact c on c."Id" = w.record_id
           where w.system = 'salesforce' and w.field = 'ActOn_Lead_Score__c' and w.status = 'success'
             and not exists (select 1 from sync_state.writeback_results f
                             where f.record_id = w.record_id and f.status = 'failed')
           order by 1 limit 1""",
    )
    code, out = trace(synced, record_id)
    assert code == 0, out
    assert out.startswith(f"Trace of {email} — Salesforce Ids: ")
    assert record_id in section(out, "Salesforce Contacts")
    assert email in section(out, "Act-On contact (behavioural score)").lower()
    assert "contact" in section(out, "Matching (Act-On records to the person)")
    assert "stage_reached: " in section(out, "Person and funnel stage")
    written = section(out, "Write-back results")
    assert "ActOn_Lead_Score__c" in written and "success" in written
    assert "SFDC Master Contacts" in written  # the list sync put the email in its list
    assert section(out, "Rejected (cannot sync)").strip() == "(none)"

    by_email = trace(synced, email.upper())[1]  # the same person, found by email
    assert by_email.splitlines()[0] == out.splitlines()[0]


def test_a_rejected_record(synced: World) -> None:
    record_id, reason = one(
        synced,
        """select record_id, reason from marts.rejected_records
           where source_system = 'salesforce' order by record_id limit 1""",
    )
    code, out = trace(synced, record_id)
    assert code == 0, out
    rejected = section(out, "Rejected (cannot sync)")
    assert record_id in rejected and reason in rejected
    assert section(out, "Write-back results").strip() == "(none)"


def test_a_record_whose_write_failed(synced: World) -> None:
    record_id, field = one(
        synced,
        """select record_id, field from sync_state.writeback_results
           where system = 'salesforce' and status = 'failed' order by record_id limit 1""",
    )
    code, out = trace(synced, record_id)
    assert code == 0, out
    written = section(out, "Write-back results")
    assert "failed" in written and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in written and field in written


def test_nothing_found(synced: World) -> None:
    code, out = trace(synced, "nobody@nowhere.example")
    assert code == 1
    assert "nothing in the warehouse matches 'nobody@nowhere.example'" in out
