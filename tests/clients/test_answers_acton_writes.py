"""Act-On's answers to the list sync's writes are checked before they are believed: a list page without its
lists, a merge job's success without what it did, a bulk delete without its failures stop the sync with
UnexpectedAnswer naming the call, and record no success for what they did not vouch for. Each test has a
sandbox of its own (the merge uploads are real); a ``body`` fault answers the call under test."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from ingest.clients.acton_client import ActOnClient
from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox
from tests.writeback.test_writeback import config, member_rows, people, results, set_sync_rows
from writeback.acton_lists import sync_acton_lists

CONTACTS = "SFDC Master Contacts"
MERGE_STATUS = "/api/1/list/*/status"
DELETE = "/api/1/list/*/record"


def answer_with(sb: Sandbox, method: str, path: str, body: Any) -> None:
    sb.faults("acton", [{"kind": "body", "method": method, "path": path, "body": body}])


def stops_naming(
    conn: duckdb.DuckDBPyConnection, acton: ActOnClient, call: str, what: str
) -> pytest.ExceptionInfo[UnexpectedAnswer]:
    """The list sync raises UnexpectedAnswer naming ``call`` (a regular expression) and saying ``what``."""
    with pytest.raises(UnexpectedAnswer) as e:
        sync_acton_lists(conn, acton, config(), "run-1")
    assert re.match(rf"acton {call} -> ", str(e.value)), str(e.value)
    assert what in str(e.value), str(e.value)
    return e


def members(conn: duckdb.DuckDBPyConnection, sf: SalesforceClient, n: int = 3) -> None:
    set_sync_rows(conn, "acton_list_upserts", member_rows(CONTACTS, "Contact", people(sf, "Contact", n)))


def successes(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return results(conn, "status = 'success'")


def test_a_list_page_without_its_lists_stops_the_sync_before_anything_is_sent(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    """Read as "no lists", every configured list would be created a second time."""
    sf, acton = clients
    members(wh, sf)
    answer_with(fresh_sandbox, "GET", "/api/1/list", {"offset": 0, "count": 0, "totalCount": 0})
    stops_naming(wh, acton, "GET /api/1/list", "no 'result'")
    calls = fresh_sandbox.stats("acton")["by_endpoint"]
    assert [c for c in calls if not c.startswith(("GET ", "POST /token"))] == []
    assert results(wh) == []


def removal(record_id: str) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "list_name": CONTACTS,
        "email": f"{record_id.replace(':', '.')}@example.com",
        "salesforce_id": None,
        "reason": "deleted",
    }


def removals(conn: duckdb.DuckDBPyConnection, sf: SalesforceClient) -> None:
    set_sync_rows(conn, "acton_list_removals", [removal("l-0001:1"), removal("l-0001:2")])


def removed(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return results(conn, "field = 'removed'")


@dataclass(frozen=True)
class Write:
    """A write of the list sync: the sync rows that make it, the call (a fault's path, and how UnexpectedAnswer
    names it: a regular expression) and the results it records once its answer is believed."""

    rows: Callable[[duckdb.DuckDBPyConnection, SalesforceClient], None]
    method: str
    path: str
    call: str
    recorded: Callable[[duckdb.DuckDBPyConnection], list[dict[str, Any]]]


MERGE = Write(members, "GET", MERGE_STATUS, r"GET /api/1/list/\d+/status", successes)
# Read as "nothing failed", both records would be recorded as removed from the list.
REMOVAL = Write(removals, "DELETE", DELETE, r"DELETE /api/1/list/[\w-]+/record", removed)


@pytest.mark.parametrize(
    ("write", "answer", "what"),
    [
        pytest.param(MERGE, {"status": "success", "jobDetails": "{}"}, "no 'details'", id="details"),
        pytest.param(
            MERGE,
            {"status": "success", "details": "appended"},
            "'details' is str, expected dict",
            id="details-type",
        ),
        pytest.param(
            MERGE,
            {"status": "success", "details": {"status": "ok", "updateCount": 0}},
            "no 'appendCount'",
            id="appendCount",
        ),
        pytest.param(
            MERGE,
            {"status": "success", "details": {"appendCount": "ten", "updateCount": 0}},
            "expected a whole number",
            id="appendCount-type",
        ),
        pytest.param(MERGE, {"details": {"appendCount": 3, "updateCount": 0}}, "no 'status'", id="status"),
        pytest.param(REMOVAL, {"success_count": 2, "fail_count": 0}, "no 'failedList'", id="failedList"),
        pytest.param(
            REMOVAL,
            {"success_count": 2, "fail_count": 0, "failedList": "none"},
            "'failedList' is str, expected list",
            id="failedList-type",
        ),
        pytest.param(
            REMOVAL,
            {"success_count": 1, "fail_count": 1, "failedList": [{"reason": "Invalid contact id"}]},
            "no 'id'",
            id="failure-id",
        ),
        pytest.param(REMOVAL, {"fail_count": 0, "failedList": []}, "no 'success_count'", id="success_count"),
        pytest.param(
            REMOVAL,
            {"success_count": 1, "fail_count": 0, "failedList": []},
            "success_count: the answer says 1, 2 were read",
            id="success_count-disagrees",
        ),
    ],
)
def test_a_write_answer_that_does_not_say_what_it_did_stops_the_sync_and_records_nothing(
    fresh_sandbox: Sandbox,
    wh: duckdb.DuckDBPyConnection,
    clients: tuple[SalesforceClient, ActOnClient],
    write: Write,
    answer: dict[str, Any],
    what: str,
) -> None:
    sf, acton = clients
    write.rows(wh, sf)
    answer_with(fresh_sandbox, write.method, write.path, answer)
    stops_naming(wh, acton, write.call, what)
    assert write.recorded(wh) == []


def test_a_delete_answer_that_adds_up_is_recorded_row_by_row(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    sf, acton = clients
    removals(wh, sf)
    failed = [{"id": "l-0001:2", "reason": "Invalid contact id"}]
    answer_with(fresh_sandbox, "DELETE", DELETE, {"success_count": 1, "fail_count": 1, "failedList": failed})
    summary = sync_acton_lists(wh, acton, config(), "run-1")
    assert (summary.succeeded, summary.failed) == (1, 1)
    outcomes = {r["record_id"]: (r["status"], r["message"]) for r in removed(wh)}
    assert outcomes == {"l-0001:1": ("success", "deleted"), "l-0001:2": ("failed", "Invalid contact id")}
