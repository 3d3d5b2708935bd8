"""Composite requests: the sandbox's ``POST /composite`` over HTTPS, and the client's describes through it (one
billed call for every object of a run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.clients.errors import ApiError
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.salesforce import OBJECTS
from sandbox.launcher import Sandbox


def _client(sandbox: Sandbox, tmp_path: Path, **kwargs) -> SalesforceClient:
    return SalesforceClient.from_env(
        {**sandbox.env, "TOKEN_CACHE_PATH": str(tmp_path / "tokens.json")}, **kwargs
    )


def test_composite_runs_subrequests_with_references_as_one_call(sandbox: Sandbox, tmp_path: Path) -> None:
    client = _client(sandbox, tmp_path)
    assert client.token["access_token"]  # authenticated first: the token call is not what is counted below
    base = f"/services/data/v{client.config.api_version}"
    before = sandbox.stats("salesforce")["total"]
    answer = client.json(
        "POST",
        "composite",
        json={
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": f"{base}/query?q=SELECT+Id+FROM+Lead+LIMIT+1",
                    "referenceId": "first",
                },
                {
                    "method": "GET",
                    "url": f"{base}/sobjects/Lead/@{{first.records[0].Id}}",
                    "referenceId": "lead",
                },
                {"method": "GET", "url": f"{base}/sobjects/NoSuchObject/describe", "referenceId": "missing"},
                {"method": "GET", "url": f"{base}/sobjects/Lead/@{{nothing.id}}", "referenceId": "dangling"},
            ]
        },
    )["compositeResponse"]
    assert sandbox.stats("salesforce")["total"] - before == 1
    first, lead, missing, dangling = answer
    assert first["httpStatusCode"] == 200 and lead["httpStatusCode"] == 200
    assert lead["body"]["Id"] == first["body"]["records"][0]["Id"]
    assert (missing["httpStatusCode"], missing["body"][0]["errorCode"]) == (404, "NOT_FOUND")
    assert (dangling["httpStatusCode"], dangling["body"][0]["errorCode"]) == (400, "INVALID_REFERENCE")
    assert [a["referenceId"] for a in answer] == ["first", "lead", "missing", "dangling"]


def test_all_or_none_halts_the_subrequests_after_a_failure(sandbox: Sandbox, tmp_path: Path) -> None:
    client = _client(sandbox, tmp_path)
    base = f"/services/data/v{client.config.api_version}"
    answer = client.json(
        "POST",
        "composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {"method": "GET", "url": f"{base}/sobjects/NoSuchObject/describe", "referenceId": "bad"},
                {"method": "GET", "url": f"{base}/sobjects/Lead/describe", "referenceId": "after"},
            ],
        },
    )["compositeResponse"]
    assert [a["httpStatusCode"] for a in answer] == [404, 400]
    assert answer[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"


def test_client_describes_and_counts_every_prefetched_object_in_one_call(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    client = _client(sandbox, tmp_path, prefetch=OBJECTS)
    assert client.token["access_token"]
    before = sandbox.stats("salesforce")
    described = {obj: client.describe(obj) for obj in OBJECTS}
    counted = {obj: client.record_count(obj) for obj in OBJECTS}
    after = sandbox.stats("salesforce")
    assert after["total"] - before["total"] == 1
    assert {name: d["name"] for name, d in described.items()} == {obj: obj for obj in OBJECTS}
    assert any(f["name"] == "ActOn_Lead_Score__c" for f in described["Lead"]["fields"])
    # recordCount leaves OpportunityHistory out; the COUNT() subrequest counts it
    assert counted == {
        obj: client.count(f"SELECT COUNT() FROM {obj}", include_deleted=False) for obj in OBJECTS
    }
    assert counted["OpportunityHistory"] > 0


def test_counts_travel_five_queries_to_a_composite_call(sandbox: Sandbox, tmp_path: Path) -> None:
    client = _client(sandbox, tmp_path)
    assert client.token["access_token"]
    queries = [f"SELECT COUNT() FROM {obj}" for obj in OBJECTS] + [
        "SELECT COUNT() FROM Lead WHERE IsDeleted = true"
    ]
    one_by_one = [client.count(q) for q in queries]
    before = sandbox.stats("salesforce")
    assert client.counts(queries) == one_by_one
    assert sandbox.stats("salesforce")["total"] - before["total"] == -(-len(queries) // 5)
    with pytest.raises(ApiError, match=r"MALFORMED_QUERY|INVALID_FIELD"):
        client.counts(["SELECT COUNT() FROM Lead WHERE NoSuchField__c = 1"])
