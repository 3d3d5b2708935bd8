"""The Salesforce sandbox over real HTTPS, driven by simple-salesforce and plain requests the way real
clients drive Salesforce: OAuth, REST query paging, CRUD and upsert, sObject Collections, Bulk API 2.0."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from sandbox.launcher import Sandbox, start

V = "59.0"
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
BULK_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox of this module's own: the tests write to it."""
    box = start(tmp_path_factory.mktemp("salesforce"), scale=300, seed=5)
    # requests lets REQUESTS_CA_BUNDLE override Session.verify, so the sandbox CA goes there.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", box.env["REQUESTS_CA_BUNDLE"])
        yield box
    box.stop()


def login_url(sb: Sandbox) -> str:
    return sb.env["SALESFORCE_LOGIN_URL"]


def token_request(sb: Sandbox, **form: str) -> requests.Response:
    return requests.post(f"{login_url(sb)}/services/oauth2/token", data=form, timeout=30)


def password_grant(sb: Sandbox, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "password",
        "client_id": sb.env["SALESFORCE_CLIENT_ID"],
        "client_secret": sb.env["SALESFORCE_CLIENT_SECRET"],
        "username": sb.env["SALESFORCE_USERNAME"],
        "password": sb.env["SALESFORCE_PASSWORD"] + sb.env["SALESFORCE_SECURITY_TOKEN"],
    }
    return token_request(sb, **{**form, **overrides})


def client(sb: Sandbox, access_token: str | None = None) -> Salesforce:
    if access_token is None:
        access_token = password_grant(sb).json()["access_token"]
    return Salesforce(instance_url=login_url(sb), session_id=access_token, version=V)


def refresh_token(sb: Sandbox) -> str:
    with sqlite3.connect(sb.data_dir / "sandbox.sqlite") as c:
        (creds,) = c.execute("SELECT value FROM meta WHERE key = 'salesforce_credentials'").fetchone()
    return json.loads(creds)["refresh_token"]


@pytest.fixture
def sf(sb: Sandbox) -> Iterator[Salesforce]:
    yield client(sb)
    sb.clear_faults()
    sb.admin(
        "salesforce",
        "POST",
        "limits",
        {"salesforce_daily_api_max": 100_000, "salesforce_token_lifetime_s": 7200},
    )


def raw(sf: Salesforce, method: str, path: str, **kw: Any) -> requests.Response:
    return sf.session.request(method, f"{sf.base_url}{path}", headers=sf.headers, timeout=60, **kw)


def new_lead(sf: Salesforce, **fields: Any) -> str:
    return sf.Lead.create({"LastName": "Tester", "Company": "Acme", **fields})["id"]


# -- OAuth -------------------------------------------------------------------------------------------------
def test_token_grants_and_their_error_bodies(sb: Sandbox) -> None:
    ok = password_grant(sb).json()
    assert ok["token_type"] == "Bearer" and ok["instance_url"] == login_url(sb)
    assert set(ok) >= {"access_token", "instance_url", "id", "issued_at", "signature", "scope"}
    assert password_grant(sb, password=sb.env["SALESFORCE_PASSWORD"]).status_code == 200

    bad_password = password_grant(sb, password="wrong")
    assert bad_password.status_code == 400
    assert bad_password.content == b'{"error":"invalid_grant","error_description":"authentication failure"}'
    bad_client = password_grant(sb, client_id="nope")
    assert (
        bad_client.content == b'{"error":"invalid_client_id","error_description":"client identifier invalid"}'
    )
    bad_secret = password_grant(sb, client_secret="nope")
    assert (
        bad_secret.content == b'{"error":"invalid_client","error_description":"invalid client credentials"}'
    )

    basic = requests.post(
        f"{login_url(sb)}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(sb.env["SALESFORCE_CLIENT_ID"], sb.env["SALESFORCE_CLIENT_SECRET"]),
        timeout=30,
    )
    assert basic.status_code == 200

    refresh = {"grant_type": "refresh_token", "client_id": sb.env["SALESFORCE_CLIENT_ID"]}
    assert token_request(sb, **refresh, refresh_token=refresh_token(sb)).status_code == 200
    unknown = token_request(sb, **refresh, refresh_token="5Aep861notissued")
    assert unknown.status_code == 400
    assert unknown.content == b'{"error":"invalid_grant","error_description":"expired access/refresh token"}'


def test_jwt_bearer_grant_checks_signature_audience_and_expiry(sb: Sandbox) -> None:
    key = (sb.data_dir / "jwt_private_key.pem").read_bytes()
    exp = f"{(datetime.now(UTC) + timedelta(minutes=3)).timestamp():.0f}"  # a string, as simple-salesforce sends
    claims = {"iss": sb.env["SALESFORCE_CLIENT_ID"], "sub": sb.env["SALESFORCE_USERNAME"], "exp": exp}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def assertion(signing_key: Any = key, **over: Any) -> str:
        return jwt.encode(
            {**claims, "aud": "https://test.salesforce.com", **over}, signing_key, algorithm="RS256"
        )

    token = token_request(sb, grant_type=grant, assertion=assertion()).json()["access_token"]
    assert client(sb, token).query("SELECT Id FROM Organization")["totalSize"] == 1
    assert token_request(sb, grant_type=grant, assertion=assertion(aud=login_url(sb))).status_code == 200

    # the org is a sandbox (Organization.IsSandbox): production's login URL is not its audience
    for aud in ("https://example.com", "https://login.salesforce.com"):
        wrong_aud = token_request(sb, grant_type=grant, assertion=assertion(aud=aud))
        assert wrong_aud.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}
    expired = token_request(sb, grant_type=grant, assertion=assertion(exp=int(time.time()) - 10))
    assert expired.json()["error"] == "invalid_grant"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forged = token_request(sb, grant_type=grant, assertion=assertion(other_key))
    assert forged.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_expired_session_answers_invalid_session_id_and_a_refresh_recovers(
    sf: Salesforce, sb: Sandbox
) -> None:
    sb.faults("salesforce", [{"kind": "expire_session", "path": "*/query/", "times": 1}])
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")
    stale = raw(sf, "GET", "limits")
    assert stale.status_code == 401
    assert stale.content == b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]'

    form = {"grant_type": "refresh_token", "client_id": sb.env["SALESFORCE_CLIENT_ID"]}
    fresh = token_request(sb, **form, refresh_token=refresh_token(sb)).json()["access_token"]
    assert client(sb, fresh).query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1

    sb.admin("salesforce", "POST", "limits", {"salesforce_token_lifetime_s": 1})
    short = client(sb)
    time.sleep(1.5)
    with pytest.raises(SalesforceExpiredSession):
        short.query("SELECT Id FROM Lead LIMIT 1")


def test_request_limit_exceeded_after_the_daily_cap(sf: Salesforce, sb: Sandbox) -> None:
    usage = raw(sf, "GET", "limits").headers["Sforce-Limit-Info"]
    used = int(re.fullmatch(r"api-usage=(\d+)/100000", usage).group(1))  # type: ignore[union-attr]
    sb.admin("salesforce", "POST", "limits", {"salesforce_daily_api_max": used + 1})
    last = raw(sf, "GET", "limits")
    assert last.status_code == 200 and last.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/{used + 1}"
    assert last.json()["DailyApiRequests"] == {"Max": used + 1, "Remaining": 0}
    refused = raw(sf, "GET", "limits")
    assert refused.status_code == 403
    assert (
        refused.content
        == b'[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]'
    )
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Lead LIMIT 1")


# -- REST --------------------------------------------------------------------------------------------------
def test_versions_describe_and_unknown_routes(sf: Salesforce, sb: Sandbox) -> None:
    listed = requests.get(f"{login_url(sb)}/services/data/", timeout=30).json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in listed

    described = sf.Lead.describe()
    assert (described["name"], described["keyPrefix"], described["childRelationships"]) == ("Lead", "00Q", [])
    email = next(f for f in described["fields"] if f["name"] == "Email")
    assert (email["type"], email["length"], email["compoundFieldName"]) == ("email", 80, None)
    assert {o["name"] for o in sf.describe()["sobjects"]} >= {"Lead", "Contact", "CampaignMember", "User"}

    for path in ("nothing/here", "sobjects/NoSuchObject/describe"):
        missing = raw(sf, "GET", path)
        assert missing.status_code == 404
        assert (
            missing.content
            == b'[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]'
        )
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT NoSuchField FROM Lead")
    assert bad.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_query_pages_by_batch_size_with_typed_and_nested_fields(sf: Salesforce) -> None:
    total = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    assert total > 200
    soql = (
        "SELECT Id, Email, Owner.Email, HasOptedOutOfEmail, CreatedDate, AnnualRevenue FROM Lead ORDER BY Id"
    )
    options = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query(soql, headers=options)
    assert (first["totalSize"], first["done"], len(first["records"])) == (total, False, 200)
    assert re.fullmatch(rf"/services/data/v{V}/query/01g\w{{15}}-200", first["nextRecordsUrl"])
    # A page can be fetched again (a client retrying after a dropped connection).
    again = [sf.query_more(first["nextRecordsUrl"], identifier_is_url=True) for _ in range(2)]
    assert again[0] == again[1] and again[0]["done"]

    records = list(sf.query_all_iter(soql, headers=options))
    assert len(records) == total
    assert [r["Id"] for r in records] == sorted({r["Id"] for r in records})
    r = records[0]
    assert list(r) == [
        "attributes",
        "Id",
        "Email",
        "Owner",
        "HasOptedOutOfEmail",
        "CreatedDate",
        "AnnualRevenue",
    ]
    assert r["attributes"] == {"type": "Lead", "url": f"/services/data/v{V}/sobjects/Lead/{r['Id']}"}
    assert r["Owner"]["attributes"]["type"] == "User" and "@" in r["Owner"]["Email"]
    assert isinstance(r["HasOptedOutOfEmail"], bool) and SF_DATETIME.match(r["CreatedDate"])


def test_record_crud_validation_and_query_all_sees_deletes(sf: Salesforce, sb: Sandbox) -> None:
    def refused(body: dict[str, Any]) -> bytes:
        response = raw(sf, "POST", "sobjects/Lead/", json=body)
        assert response.status_code == 400
        return response.content

    assert refused({"Company": "Acme"}) == (
        b'[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]'
    )
    assert refused({"LastName": "X", "Company": "Acme", "Email": "not-an-email"}) == (
        b'[{"message":"Email: invalid email address: not-an-email","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]'
    )
    assert b'"errorCode":"STRING_TOO_LONG","fields":["FirstName"]' in refused(
        {"LastName": "X", "Company": "Acme", "FirstName": "y" * 41}
    )
    assert refused({"LastName": "X", "Company": "Acme", "Nope__c": 1}) == (
        b'[{"message":"No such column \'Nope__c\' on sobject of type Lead","errorCode":"INVALID_FIELD","fields":[]}]'
    )
    assert b'"errorCode":"INVALID_FIELD_FOR_INSERT_UPDATE","fields":["IsConverted"]' in refused(
        {"LastName": "X", "Company": "Acme", "IsConverted": True}
    )

    lead_id = new_lead(sf, Email="crud@example.com")
    api_user = sf.query(f"SELECT Id FROM User WHERE Username = '{sb.env['SALESFORCE_USERNAME']}'")["records"][
        0
    ]["Id"]
    created = sf.Lead.get(lead_id)
    assert (created["Status"], created["OwnerId"], created["HasOptedOutOfEmail"]) == (
        "Open - Not Contacted",
        api_user,
        False,
    )
    before = created["SystemModstamp"]
    time.sleep(0.01)
    assert sf.Lead.update(lead_id, {"Title": "CTO", "ActOn_Lead_Score__c": 42}) == 204
    after = raw(
        sf,
        "GET",
        f"sobjects/Lead/{lead_id}",
        params={"fields": "Title,ActOn_Lead_Score__c,SystemModstamp,LastModifiedById"},
    ).json()
    assert (after["Title"], after["ActOn_Lead_Score__c"], after["LastModifiedById"]) == (
        "CTO",
        42.0,
        api_user,
    )
    assert after["SystemModstamp"] > before

    assert sf.Lead.delete(lead_id) == 204
    gone = raw(sf, "GET", f"sobjects/Lead/{lead_id}")
    assert gone.status_code == 404
    assert gone.content == b'[{"message":"entity is deleted","errorCode":"ENTITY_IS_DELETED","fields":[]}]'
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead_id}'"
    assert sf.query(soql)["totalSize"] == 0
    assert sf.query_all(soql, include_deleted=True)["records"][0]["IsDeleted"] is True
    now = datetime.now(UTC)
    deleted = sf.Lead.deleted(now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert lead_id in {d["id"] for d in deleted["deletedRecords"]}


def test_upsert_by_external_id(sf: Salesforce, sb: Sandbox) -> None:
    sb.mutate(
        "salesforce",
        [
            {
                "op": "add_field",
                "object": "Lead",
                "field": "Ext_Id__c",
                "type": "string",
                "length": 40,
                "external_id": True,
            }
        ],
    )
    body = {"LastName": "Upserted", "Company": "Acme"}
    created = raw(sf, "PATCH", "sobjects/Lead/Ext_Id__c/X-1", json=body)
    assert created.status_code == 201 and created.json()["created"] is True
    lead_id = created.json()["id"]
    updated = raw(sf, "PATCH", "sobjects/Lead/Ext_Id__c/X-1", json={"Title": "VP"})
    assert (updated.status_code, updated.json()) == (
        200,
        {"id": lead_id, "success": True, "errors": [], "created": False},
    )
    by_id = raw(sf, "PATCH", f"sobjects/Lead/Id/{lead_id}", json={"Title": "CEO"})
    assert by_id.status_code == 200 and sf.Lead.get(lead_id)["Title"] == "CEO"

    twin = new_lead(sf, Ext_Id__c="X-1")
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Lead.upsert("Ext_Id__c/X-1", {"Title": "?"})
    not_external = raw(sf, "PATCH", "sobjects/Lead/Title/CEO", json={})
    assert not_external.status_code == 404
    sf.Lead.delete(twin)


def test_collections_all_or_none_and_row_faults(sf: Salesforce, sb: Sandbox) -> None:
    ids = [new_lead(sf, ActOn_Lead_Score__c=1) for _ in range(4)]

    def patch(records: list[dict[str, Any]], all_or_none: bool) -> list[dict[str, Any]]:
        body = {"allOrNone": all_or_none, "records": [{"attributes": {"type": "Lead"}, **r} for r in records]}
        response = raw(sf, "PATCH", "composite/sobjects", json=body)
        assert response.status_code == 200
        return response.json()

    def scores() -> list[float]:
        return [sf.Lead.get(i)["ActOn_Lead_Score__c"] for i in ids]

    batch = [{"id": i, "ActOn_Lead_Score__c": 50} for i in ids[:3]] + [{"id": ids[3], "Email": "bad"}]
    rolled = patch(batch, all_or_none=True)
    assert [e["errors"][0]["statusCode"] for e in rolled] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"] * 3 + [
        "INVALID_EMAIL_ADDRESS"
    ]
    assert scores() == [1.0] * 4

    partial = patch(batch, all_or_none=False)
    assert [e["success"] for e in partial] == [True, True, True, False]
    assert partial[0] == {"id": ids[0], "success": True, "errors": []}
    assert partial[3]["errors"] == [
        {
            "statusCode": "INVALID_EMAIL_ADDRESS",
            "message": "Email: invalid email address: bad",
            "fields": ["Email"],
        }
    ]
    assert scores() == [50.0, 50.0, 50.0, 1.0]

    sb.faults(
        "salesforce",
        [
            {
                "kind": "row_error",
                "method": "PATCH",
                "path": "*/composite/sobjects",
                "fraction": 0.5,
                "seed": 4,
            }
        ],
    )
    faulted = patch([{"id": i, "ActOn_Lead_Score__c": 60} for i in ids], all_or_none=False)
    failed = [e["errors"][0]["statusCode"] for e in faulted if not e["success"]]
    assert failed and set(failed) == {"UNABLE_TO_LOCK_ROW"}
    unchanged = [50.0, 50.0, 50.0, 1.0]
    assert scores() == [old if not e["success"] else 60.0 for old, e in zip(unchanged, faulted, strict=True)]

    too_many = raw(
        sf,
        "POST",
        "composite/sobjects",
        json={"records": [{"attributes": {"type": "Lead"}, "LastName": "x"}] * 201},
    )
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    deleted = raw(sf, "DELETE", "composite/sobjects", params={"ids": ",".join(ids)}).json()
    assert all(e["success"] for e in deleted)


# -- Bulk API 2.0 ------------------------------------------------------------------------------------------
def read_csv(page: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(page)))


def test_bulk_query_pages_csv_and_snapshot(sf: Salesforce) -> None:
    total = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    soql = "SELECT Id, Email, Owner.Email, HasOptedOutOfEmail, SystemModstamp FROM Lead ORDER BY Id"
    pages = list(sf.bulk2.Lead.query(soql, max_records=100, wait=0.1))
    assert len(pages) == -(-total // 100)
    rows = [row for page in pages for row in read_csv(page)[1:]]
    assert all(
        page.startswith('"Id","Email","Owner.Email","HasOptedOutOfEmail","SystemModstamp"\n')
        for page in pages
    )
    assert len(rows) == total and [r[0] for r in rows] == sorted({r[0] for r in rows})
    assert {r[3] for r in rows} <= {"true", "false"} and all(BULK_DATETIME.match(r[4]) for r in rows)
    assert pages[0].splitlines()[1].startswith('"00Q')

    jobs = f"{sf.bulk2_url}query"
    job = raw(sf, "POST", "jobs/query", json={"operation": "query", "query": soql}).json()
    while raw(sf, "GET", f"jobs/query/{job['id']}").json()["state"] != "JobComplete":
        time.sleep(0.05)
    first = sf.session.get(
        f"{jobs}/{job['id']}/results", params={"maxRecords": 5}, headers=sf.headers, timeout=60
    )
    lead_id = read_csv(first.text)[1][0]
    sf.Lead.update(lead_id, {"Email": "changed.after.snapshot@example.com"})
    zipped = sf.session.get(
        f"{jobs}/{job['id']}/results",
        params={"maxRecords": 5},
        headers={**sf.headers, "Accept-Encoding": "gzip"},
        timeout=60,
    )
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.text == first.text
    assert first.headers["Sforce-NumberOfRecords"] == "5" and first.headers["Sforce-Locator"] != "null"
    assert raw(sf, "DELETE", f"jobs/query/{job['id']}").status_code == 204


def test_bulk_query_job_failure_fault(sf: Salesforce, sb: Sandbox) -> None:
    sb.faults(
        "salesforce", [{"kind": "bulk_job_failed", "method": "POST", "path": "*/jobs/query", "times": 1}]
    )
    with pytest.raises(SalesforceOperationError, match="Failed to process query"):
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead", wait=0.1))
    assert len(list(sf.bulk2.Lead.query("SELECT Id FROM Lead LIMIT 3", wait=0.1))) == 1


def test_bulk_update_with_row_faults_reports_failed_rows(sf: Salesforce, sb: Sandbox) -> None:
    leads = sf.query("SELECT Id, Title, ActOn_Lead_Score__c FROM Lead ORDER BY Id LIMIT 40")["records"]
    sb.faults("salesforce", [{"kind": "row_error", "path": "*/jobs/ingest/*", "fraction": 0.25, "seed": 9}])
    rows = [
        {"Id": r["Id"], "ActOn_Lead_Score__c": "77", "Title": "#N/A" if i == 0 else ""}
        for i, r in enumerate(leads)
    ]
    (result,) = sf.bulk2.Lead.update(records=rows, wait=0.1)
    assert result["numberRecordsProcessed"] == 40 and 0 < result["numberRecordsFailed"] < 40

    failed = read_csv(sf.bulk2.Lead.get_failed_records(result["job_id"]))
    columns = ["ActOn_Lead_Score__c", "Id", "Title"]  # simple-salesforce writes its columns in set order
    assert failed[0][:2] == ["sf__Id", "sf__Error"] and sorted(failed[0][2:]) == columns
    assert {r[1] for r in failed[1:]} == {
        "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--"
    }
    succeeded = read_csv(sf.bulk2.Lead.get_successful_records(result["job_id"]))
    assert succeeded[0][:2] == ["sf__Id", "sf__Created"] and {r[1] for r in succeeded[1:]} == {"false"}
    assert len(failed) + len(succeeded) == 42
    (unprocessed_header,) = read_csv(sf.bulk2.Lead.get_unprocessed_records(result["job_id"]))
    assert sorted(unprocessed_header) == columns

    failed_ids = {r[0] for r in failed[1:]}
    again = "SELECT Id, Title, ActOn_Lead_Score__c FROM Lead ORDER BY Id LIMIT 40"
    after = {r["Id"]: r for r in sf.query(again)["records"]}
    for before in leads:
        now = after[before["Id"]]
        if before["Id"] in failed_ids:
            assert now == before
        else:
            assert now["ActOn_Lead_Score__c"] == 77.0
            # An empty cell leaves the field alone; #N/A clears it.
            assert now["Title"] == (None if before is leads[0] else before["Title"])


def test_bulk_query_status_waits_for_a_small_job_to_finish(sf: Salesforce, sb: Sandbox) -> None:
    key = "GET /services/data/vXX.X/jobs/query/{job_id}"
    before = sb.stats("salesforce")["by_endpoint"].get(key, 0)
    job = raw(sf, "POST", "jobs/query", json={"operation": "queryAll", "query": "SELECT Id FROM Lead"}).json()
    assert job["state"] == "UploadComplete"
    status = raw(sf, "GET", f"jobs/query/{job['id']}").json()
    assert status["state"] == "JobComplete" and status["numberRecordsProcessed"] > 0
    assert sb.stats("salesforce")["by_endpoint"][key] == before + 1


# -- record counts -----------------------------------------------------------------------------------------
def test_record_count_counts_live_rows_of_the_named_objects(sf: Salesforce, sb: Sandbox) -> None:
    def counts(**params: str) -> dict[str, int]:
        body = sf.restful("limits/recordCount", params=params)
        assert set(body) == {"sObjects"}
        return {entry["name"]: entry["count"] for entry in body["sObjects"]}

    key = "GET /services/data/vXX.X/limits/recordCount"
    before = sb.stats("salesforce")["by_endpoint"].get(key, 0)
    live = {obj: sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"] for obj in ("Lead", "Contact")}
    # unknown names are left out, names match case-insensitively and come back as the API name
    assert counts(sObjects="Lead,contact,NoSuchObject") == live
    lead_id = new_lead(sf)
    assert counts(sObjects="Lead") == {"Lead": live["Lead"] + 1}
    sf.Lead.delete(lead_id)
    assert counts(sObjects="Lead") == {"Lead": live["Lead"]}
    everything = counts()
    assert {"Lead", "Contact", "Account", "Opportunity", "Campaign", "User"} <= set(everything)
    assert "OpportunityHistory" not in everything  # history objects are not counted, as in Salesforce
    assert everything["Account"] == sf.query("SELECT COUNT() FROM Account")["totalSize"]
    assert sb.stats("salesforce")["by_endpoint"][key] == before + 4  # one call each
