"""Salesforce answers are checked before they are believed: an answer that lacks what a decision needs, or whose
counts disagree with the rows read, stops the step with UnexpectedAnswer naming the call, and nothing of it is
written. Through the sandbox (a ``body`` fault answers a call with exactly the given body) where it can say it;
the Bulk result headers through the fake server."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from common.sync_config import load_sync_config
from common.warehouse import connect, get_watermark, table_columns, utc_now
from health.describe import FieldCatalog
from health.preflight import preflight
from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.salesforce_client import SalesforceClient
from ingest.clients.salesforce_frames import Column, frame_from_bulk_page
from ingest.extract.salesforce import SalesforceExtractSettings, extract_object
from sandbox.launcher import Sandbox
from tests.clients.test_ingest_http import FakeServer, Reply, Seen, _sf_token_server, server, sf_env
from writeback.salesforce_fields import FieldWrite, WriteSettings, write_fields

__all__ = ["server"]  # the fixture, imported for the fake-server tests

SYNC_YAML = Path(__file__).resolve().parents[2] / "sync.yaml"
SCORE_FIELD = "ActOn_Lead_Score__c"
REST = SalesforceExtractSettings(bulk_threshold=10_000, rest_batch_size=200)
BULK = SalesforceExtractSettings(bulk_threshold=0)
QUERY_ALL = "/services/data/*/queryAll*"
QUERY_MORE = "/services/data/*/query/01g*"
COMPOSITE = "/services/data/*/composite"
COLLECTIONS = "/services/data/*/composite/sobjects"


def client_of(sb: Sandbox, tmp: Path) -> Iterator[SalesforceClient]:
    client = SalesforceClient.from_env({**sb.env, "TOKEN_CACHE_PATH": str(tmp / "tokens.json")})
    yield client
    client.session.close()  # before the sandbox stops: its graceful shutdown waits on keep-alive connections


@pytest.fixture
def sf(clean_faults: Sandbox, tmp_path: Path) -> Iterator[SalesforceClient]:
    yield from client_of(clean_faults, tmp_path)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = connect(tmp_path / "warehouse.duckdb")
    yield conn
    conn.close()


def answer_with(sb: Sandbox, path: str, body: Any, method: str = "*") -> None:
    sb.faults("salesforce", [{"kind": "body", "method": method, "path": path, "body": body}])


def assert_names(error: pytest.ExceptionInfo[UnexpectedAnswer], call: str, *what: str) -> None:
    """The error names ``call`` (``{id}`` standing for a job's id) and says each of ``what``."""
    text = str(error.value)
    assert re.match(re.escape(f"salesforce {call} -> ").replace(r"\{id\}", r"\w+"), text), text
    for part in what:
        assert part in text, text


def assert_nothing_extracted(conn: duckdb.DuckDBPyConnection, obj: str) -> None:
    assert conn.execute(f"SELECT count(*) FROM raw_salesforce.{obj.lower()}").fetchone() == (0,)
    assert get_watermark(conn, "salesforce", obj) is None


# -- REST query ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("page", "missing"),
    [
        ({"totalSize": 1, "done": True}, "the answer has no 'records'"),
        ({"done": True, "records": []}, "the answer has no 'totalSize'"),
        ({"totalSize": 0, "records": []}, "the answer has no 'done'"),
        ({"totalSize": 0, "done": "yes", "records": []}, "'done' is str, expected bool"),
        ({"totalSize": 300, "done": False, "records": []}, "the answer has no 'nextRecordsUrl'"),
    ],
    ids=["records", "totalSize", "done", "done-type", "nextRecordsUrl"],
)
def test_a_query_page_lacking_what_paging_needs_stops_the_extract_and_writes_nothing(
    clean_faults: Sandbox, sf: SalesforceClient, wh: duckdb.DuckDBPyConnection, page: dict, missing: str
) -> None:
    answer_with(clean_faults, QUERY_ALL, page)
    with pytest.raises(UnexpectedAnswer) as e:
        extract_object(wh, sf, "Lead", REST)
    assert_names(e, "GET queryAll", missing)
    assert_nothing_extracted(wh, "Lead")


def test_pages_that_hold_fewer_records_than_the_total_stop_the_extract_before_anything_is_written(
    clean_faults: Sandbox, sf: SalesforceClient, wh: duckdb.DuckDBPyConnection
) -> None:
    """The first page is whole (200 of the Leads); the next says it is the last and holds none."""
    total = sf.count("SELECT COUNT() FROM Lead")
    assert total > REST.rest_batch_size  # two pages
    answer_with(clean_faults, QUERY_MORE, {"totalSize": total, "done": True, "records": []})
    with pytest.raises(UnexpectedAnswer) as e:
        extract_object(wh, sf, "Lead", REST)
    assert_names(e, "GET queryAll", f"totalSize: the answer says {total}, {REST.rest_batch_size} were read")
    assert_nothing_extracted(wh, "Lead")


def test_a_count_without_its_total_names_the_call(clean_faults: Sandbox, sf: SalesforceClient) -> None:
    answer_with(clean_faults, QUERY_ALL, {"done": True, "records": []})
    with pytest.raises(UnexpectedAnswer) as e:
        sf.count("SELECT COUNT() FROM Lead")
    assert_names(e, "GET queryAll", "no 'totalSize'")


# -- Composite: describes, counts ---------------------------------------------------------------------------
def composite(*answers: dict[str, Any]) -> dict[str, Any]:
    return {"compositeResponse": [{"referenceId": f"r{i}", **a} for i, a in enumerate(answers)]}


LEAD_ID_ONLY = {"name": "Lead", "fields": [{"name": "Id", "type": "id"}]}


def test_a_describe_without_fields_stops_the_extract_the_preflight_and_the_field_checks(
    clean_faults: Sandbox, sf: SalesforceClient, wh: duckdb.DuckDBPyConnection
) -> None:
    """Read as an object without fields it would extract no column, and report every configured field missing."""
    described = {"httpStatusCode": 200, "body": {"name": "Lead", "urls": {}}}
    counted = {"httpStatusCode": 200, "body": {"sObjects": [{"name": "Lead", "count": 3}]}}
    answer_with(clean_faults, COMPOSITE, composite(described, counted), method="POST")
    config = load_sync_config(SYNC_YAML)
    for step in (
        lambda: extract_object(wh, sf, "Lead", REST),
        lambda: preflight(sf, config, SYNC_YAML),
        lambda: FieldCatalog(sf).field("Lead", SCORE_FIELD),
    ):
        with pytest.raises(UnexpectedAnswer) as e:
            step()
        assert_names(e, "GET sobjects/Lead/describe", "no 'fields'")
    assert table_columns(wh, "raw_salesforce", "lead") == {}


@pytest.mark.parametrize(
    ("answer", "call", "missing"),
    [
        ({"totalSize": 3}, "POST composite", "the answer has no 'compositeResponse'"),
        (composite({"httpStatusCode": 200, "body": {"totalSize": 3}}), "POST composite", "1 answers for 2"),
        (
            composite({"body": {"totalSize": 3}}, {"httpStatusCode": 200, "body": {"totalSize": 3}}),
            "GET queryAll SELECT COUNT() FROM Lead",
            "no 'httpStatusCode'",
        ),
        (
            composite({"httpStatusCode": 200}, {"httpStatusCode": 200, "body": {"totalSize": 3}}),
            "GET queryAll SELECT COUNT() FROM Lead",
            "no 'body'",
        ),
        (
            composite(
                {"httpStatusCode": 200, "body": {"totalSize": 3}},
                {"httpStatusCode": 200, "body": {"done": True, "records": []}},
            ),
            "GET queryAll SELECT COUNT() FROM Contact",
            "no 'totalSize'",
        ),
    ],
    ids=["compositeResponse", "one-answer-short", "httpStatusCode", "body", "totalSize"],
)
def test_composite_counts_need_an_answer_per_query_with_status_body_and_total(
    clean_faults: Sandbox, sf: SalesforceClient, answer: dict, call: str, missing: str
) -> None:
    answer_with(clean_faults, COMPOSITE, answer, method="POST")
    with pytest.raises(UnexpectedAnswer) as e:
        sf.counts(["SELECT COUNT() FROM Lead", "SELECT COUNT() FROM Contact"])
    assert_names(e, call, missing)


def test_record_counts_without_their_list_name_the_call(clean_faults: Sandbox, sf: SalesforceClient) -> None:
    described = {"httpStatusCode": 200, "body": LEAD_ID_ONLY}
    answer_with(
        clean_faults, COMPOSITE, composite(described, {"httpStatusCode": 200, "body": {}}), method="POST"
    )
    with pytest.raises(UnexpectedAnswer) as e:
        sf.record_count("Lead")
    assert_names(e, "GET limits/recordCount", "no 'sObjects'")


# -- sObject Collections ---------------------------------------------------------------------------------------
def score_writes(sf: SalesforceClient, n: int) -> list[FieldWrite]:
    (page,) = sf.query_pages(f"SELECT Id FROM Lead ORDER BY Id LIMIT {n}", include_deleted=False)
    return [FieldWrite("Lead", r["Id"], SCORE_FIELD, 50 + i) for i, r in enumerate(page["records"])]


def recorded(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return conn.execute("SELECT record_id, status FROM sync_state.writeback_results").fetchall()


def push_stops_naming(
    wh: duckdb.DuckDBPyConnection,
    sf: SalesforceClient,
    writes: list[FieldWrite],
    bulk_threshold: int,
    call: str,
    missing: str,
) -> None:
    """The push of ``writes`` raises UnexpectedAnswer naming ``call`` and saying ``missing``, and records nothing."""
    with pytest.raises(UnexpectedAnswer) as e:
        write_fields(wh, sf, writes, run_id="run-1", settings=WriteSettings(bulk_threshold=bulk_threshold))
    assert_names(e, call, missing)
    assert recorded(wh) == []


@pytest.mark.parametrize(
    ("results", "missing"),
    [
        ({"id": "x", "success": True}, "expected a JSON array"),
        ([{"id": "x", "success": True, "errors": []}], "1 answers for 3 records sent"),
        ([{"id": "x", "errors": []}] * 3, "no 'success'"),
        ([{"success": True, "errors": []}] * 3, "no 'id'"),
        ([{"success": False}] * 3, "no 'errors'"),
        ([{"success": False, "errors": []}] * 3, "a record that was not written has no errors"),
    ],
    ids=["not-a-list", "one-for-three", "success", "id", "errors", "no-error"],
)
def test_collection_results_that_do_not_say_what_was_written_stop_the_push_and_record_nothing(
    clean_faults: Sandbox, sf: SalesforceClient, wh: duckdb.DuckDBPyConnection, results: Any, missing: str
) -> None:
    """The fault answers before the sandbox writes: the shared world stays as it is."""
    writes = score_writes(sf, 3)
    answer_with(clean_faults, COLLECTIONS, results, method="PATCH")
    push_stops_naming(wh, sf, writes, 1_000, "PATCH composite/sobjects", missing)


# -- Bulk 2.0 ingest ---------------------------------------------------------------------------------------------
@pytest.fixture
def own_sf(fresh_sandbox: Sandbox, tmp_path: Path) -> Iterator[SalesforceClient]:
    """A client of a sandbox of the test's own: a Bulk job's rows are written before its answers are read."""
    yield from client_of(fresh_sandbox, tmp_path)


INGEST_STATUS = "/services/data/*/jobs/ingest/*"


@pytest.mark.parametrize(
    ("status", "missing"),
    [
        ({"state": "JobComplete", "numberRecordsProcessed": 3}, "no 'numberRecordsFailed'"),
        ({"state": "JobComplete", "numberRecordsFailed": 0}, "no 'numberRecordsProcessed'"),
        (
            {"state": "JobComplete", "numberRecordsProcessed": "three", "numberRecordsFailed": 0},
            "expected a whole",
        ),
        ({"numberRecordsProcessed": 3, "numberRecordsFailed": 0}, "no 'state'"),
    ],
    ids=["failed", "processed", "processed-type", "state"],
)
def test_a_bulk_update_whose_status_lacks_its_counts_stops_the_push_and_records_nothing(
    fresh_sandbox: Sandbox,
    own_sf: SalesforceClient,
    wh: duckdb.DuckDBPyConnection,
    status: dict,
    missing: str,
) -> None:
    writes = score_writes(own_sf, 3)
    answer_with(fresh_sandbox, INGEST_STATUS, status, method="GET")
    push_stops_naming(wh, own_sf, writes, 1, "GET jobs/ingest/{id}", missing)


@pytest.mark.parametrize(
    ("failed_file", "missing"),
    [
        ('"sf__Id","sf__Error"\n"","FIELD_CUSTOM_VALIDATION_EXCEPTION:no:--"\n', "the file has no Id column"),
        ('"sf__Id","sf__Error","Id"\n"","X:y:--"\n', "row 1 is not whole or has no Id"),
        ('"sf__Id","Id"\n"","00Q000000000000AAA"\n', "the file has no sf__Error column"),
    ],
    ids=["no-id-column", "empty-id", "no-error-column"],
)
def test_a_bulk_results_file_is_read_strictly(
    fresh_sandbox: Sandbox,
    own_sf: SalesforceClient,
    wh: duckdb.DuckDBPyConnection,
    failed_file: str,
    missing: str,
) -> None:
    """The status says one row failed, so the failed file is read; a row of it that names no record could be
    any of them, and every other row would be credited as written."""
    writes = score_writes(own_sf, 3)
    status = {"state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 1}
    fresh_sandbox.faults(
        "salesforce",
        [  # the first matching rule answers: the results file before the status, whose path it extends
            {
                "kind": "body",
                "method": "GET",
                "path": "*/failedResults",
                "body": failed_file,
                "content_type": "text/csv",
            },
            {"kind": "body", "method": "GET", "path": INGEST_STATUS, "body": status},
        ],
    )
    push_stops_naming(wh, own_sf, writes, 1, "GET jobs/ingest/{id}/failedResults", missing)


# -- Bulk 2.0 query ----------------------------------------------------------------------------------------------
def test_a_bulk_query_status_without_the_rows_it_processed_stops_the_extract(
    clean_faults: Sandbox, sf: SalesforceClient, wh: duckdb.DuckDBPyConnection
) -> None:
    answer_with(clean_faults, "/services/data/*/jobs/query/*", {"state": "JobComplete"}, method="GET")
    with pytest.raises(UnexpectedAnswer) as e:
        extract_object(wh, sf, "Campaign", BULK)
    assert_names(e, "GET jobs/query/{id}", "no 'numberRecordsProcessed'")
    assert_nothing_extracted(wh, "Campaign")


BULK_BASE = "/services/data/v59.0/jobs/query"
ID_ONLY = [Column("Id", "VARCHAR")]


def bulk_server(
    server: FakeServer, tmp: Path, processed: int, pages: list[tuple[str, dict[str, str]]]
) -> SalesforceClient:
    """A Bulk query job 750J that processed ``processed`` rows, whose results are ``pages`` (CSV and headers)
    by locator: the first page without one, page i after it under locator ``L{i}``."""
    _sf_token_server(server)
    server.route("POST", BULK_BASE, Reply(200, {"id": "750J", "state": "UploadComplete"}))
    done = {"id": "750J", "state": "JobComplete", "numberRecordsProcessed": processed}
    server.route("GET", f"{BULK_BASE}/750J", Reply(200, done))

    def results(seen: Seen) -> Reply:
        locator = seen.query.get("locator", ["L0"])[0]
        data, headers = pages[int(locator[1:])]
        return Reply(200, gzip.compress(data.encode()), {"Content-Encoding": "gzip", **headers})

    server.route("GET", f"{BULK_BASE}/750J/results", results)
    return SalesforceClient.from_env(sf_env(server, tmp))


def page(data: str, records: str | None, locator: str) -> tuple[str, dict[str, str]]:
    headers = {"Content-Type": "text/csv", "Sforce-Locator": locator}
    if records is not None:
        headers["Sforce-NumberOfRecords"] = records
    return data, headers


def read_frames(client: SalesforceClient) -> list[int]:
    pages = client.bulk_query_pages("SELECT Id FROM Lead")
    return [frame_from_bulk_page(p, ID_ONLY, utc_now()).height for p in pages]


def test_bulk_pages_that_agree_with_their_headers_and_the_job_are_read(
    server: FakeServer, tmp_path: Path
) -> None:
    client = bulk_server(
        server, tmp_path, 3, [page('"Id"\n"a"\n"b"\n', "2", "L1"), page('"Id"\n"c"\n', "1", "null")]
    )
    assert read_frames(client) == [2, 1]


@pytest.mark.parametrize(
    ("pages", "processed", "call", "missing"),
    [
        (
            [page('"Id"\n"a"\n', "1", "L1"), page('"Id"\n"b"\n', None, "null")],
            2,
            "GET jobs/query/750J/results",
            "no 'Sforce-NumberOfRecords'",
        ),
        (
            [page('"Id"\n"a"\n"b"\n', "1", "null")],
            1,
            "GET jobs/query/750J/results",
            "Sforce-NumberOfRecords: the answer says 1, 2 were read",
        ),
        (
            [page('"Id"\n"a"\n', "1", "L1"), page('"Id"\n"b"\n', "1", "null")],
            3,
            "GET jobs/query/750J",
            "numberRecordsProcessed: the answer says 3, 2 were read",
        ),
        (
            [page('"Id"\n"a"\n', "1", "L1"), ('"Id"\n"b"\n', {"Sforce-NumberOfRecords": "1"})],
            2,
            "GET jobs/query/750J/results",
            "no 'Sforce-Locator'",
        ),
    ],
    ids=["header-missing-on-the-last-page", "header-disagrees", "job-disagrees", "no-locator"],
)
def test_bulk_pages_must_hold_what_their_header_and_the_job_say(
    server: FakeServer, tmp_path: Path, pages: list, processed: int, call: str, missing: str
) -> None:
    client = bulk_server(server, tmp_path, processed, pages)
    with pytest.raises(UnexpectedAnswer) as e:
        read_frames(client)
    assert_names(e, call, missing)
