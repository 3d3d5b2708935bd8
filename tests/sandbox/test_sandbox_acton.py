"""The Act-On sandbox over real HTTPS (``python -m sandbox serve`` in a subprocess), driven with plain requests."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.acton import score
from sandbox.acton import world as acton_world
from sandbox.acton.tables import ensure_tables
from sandbox.launcher import Sandbox, start
from sandbox.store import Store

UNAUTHORIZED = {"httpCode": "401", "httpMessage": "Unauthorized", "moreInformation": ""}
TOO_MANY = {"httpCode": "429", "httpMessage": "Too Many Requests", "moreInformation": "Rate Limit exceeded"}
RELAXED = {"acton_rate_per_s": 10_000.0, "acton_password_grants_per_hour": 1000, "acton_daily_max": 30_000}
SPECS = [
    {"columnHeading": "E-mail Address", "columnIndex": 0, "columnType": "EMAIL", "ignoreColumn": "N"},
    {"columnHeading": "First Name", "columnIndex": 1, "columnType": "FIRSTNAME", "ignoreColumn": "N"},
    {"columnHeading": "Salesforce Id", "columnIndex": 2, "ignoreColumn": "N"},
]


class ActOn:
    """A minimal Act-On client: password grant once, bearer on every call, refresh on 401."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox, env = sandbox, sandbox.env
        self.base = env["ACTON_BASE_URL"]
        # verify on every call: a session's own verify loses to a REQUESTS_CA_BUNDLE in the environment
        self.http, self.ca = requests.Session(), env["REQUESTS_CA_BUNDLE"]
        self.client = {"client_id": env["ACTON_CLIENT_ID"], "client_secret": env["ACTON_CLIENT_SECRET"]}
        self.access = self.refresh = ""
        self.account_id = 0

    def token(self, **form: str) -> requests.Response:
        return self.http.post(f"{self.base}/token", data={**self.client, **form}, verify=self.ca, timeout=30)

    def login(self) -> None:
        env = self.sandbox.env
        self._keep(
            self.token(grant_type="password", username=env["ACTON_USERNAME"], password=env["ACTON_PASSWORD"])
        )

    def _keep(self, r: requests.Response) -> None:
        assert r.status_code == 200, r.text
        self.access, self.refresh = r.json()["access_token"], r.json()["refresh_token"]

    def raw(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.access if token is None else token}"}
        return self.http.request(
            method, f"{self.base}{path}", headers=headers, verify=self.ca, timeout=60, **kw
        )

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        r = self.raw(method, path, **kw)
        if r.status_code == 401:
            self._keep(self.token(grant_type="refresh_token", refresh_token=self.refresh))
            r = self.raw(method, path, **kw)
        return r

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def limits(self, **values: Any) -> None:
        self.sandbox.admin("acton", "POST", "limits", values)

    def upload(self, method: str, path: str, rows: list[list[str]], **form: Any) -> requests.Response:
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
        return self.call(method, path, data=data, files={"file": ("upload.csv", out.getvalue(), "text/csv")})

    def wait_job(self, job_id: str) -> tuple[list[str], dict[str, Any]]:
        seen = []
        for _ in range(10):
            body = self.ok("GET", f"/api/1/list/{job_id}/status")
            seen.append(body["status"])
            if body["status"] not in ("The job is pending", "The job is running"):
                return seen, body
        raise AssertionError(f"job {job_id} never finished: {seen}")

    def new_list(self, name: str) -> str:
        body = self.ok("POST", "/api/1/list", data={"listname": name, "uploadspecs": json.dumps(SPECS)})
        assert body["status"] == "success" and body["message"] == "List created"
        return body["listId"]

    def start_merge(
        self, list_id: str, rows: list[list[str]], mode: str = "UPSERT", **form: Any
    ) -> requests.Response:
        """Uploads ``rows`` (Email, First, SFID) with a heading line to merge into the list by email."""
        spec = [{"dstListId": list_id, "mergeMode": mode, "columnMap": [], "mergeKeyHeading": "EMAIL"}]
        return self.upload(
            "PUT",
            f"/api/1/list/{list_id}",
            [["Email", "First", "SFID"], *rows],
            uploadspecs=SPECS,
            mergespecs=spec,
            headings="Y",
            **form,
        )

    def merge(self, list_id: str, rows: list[list[str]], mode: str = "UPSERT", **form: Any) -> dict[str, Any]:
        """``start_merge``, then the job's final status."""
        r = self.start_merge(list_id, rows, mode, **form)
        assert r.status_code == 200, r.text
        return self.wait_job(r.json()["jobId"])[1]

    def records(self, list_id: str) -> list[list[str]]:
        return self.ok("GET", f"/api/1/list/{list_id}")["data"]


def open_acton(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[ActOn]:
    """A sandbox of the module's own (the tests write to it), with the per-second limit out of the way."""
    sb = start(tmp_path_factory.mktemp(name), scale=200, seed=5)
    try:
        client = ActOn(sb)
        client.limits(**RELAXED)
        client.login()
        client.account_id = client.ok("GET", "/api/1/account")["account_id"]
        yield client
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def acton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActOn]:
    yield from open_acton(tmp_path_factory, "acton")


@pytest.fixture
def limits(acton: ActOn) -> Iterator[ActOn]:
    """The client, with limits and faults restored after the test."""
    yield acton
    acton.limits(**RELAXED, acton_token_lifetime_s=3600, acton_upload_max_bytes=400 * 2**20)
    acton.sandbox.admin("acton", "DELETE", "faults")


# -- authentication and limits ------------------------------------------------------------------------------
def test_token_errors_are_act_ons_documented_bodies(acton: ActOn) -> None:
    env = acton.sandbox.env
    bad_client = acton.http.post(
        f"{acton.base}/token",
        data={
            "grant_type": "password",
            "client_id": "x",
            "client_secret": "y",
            "username": "u",
            "password": "p",
        },
        verify=acton.ca,
        timeout=30,
    )
    assert (bad_client.status_code, bad_client.json()) == (
        401,
        {"error": "access_denied", "error_description": "Unauthorized"},
    )
    wrong = acton.token(grant_type="password", username=env["ACTON_USERNAME"], password="not-it")
    assert (wrong.status_code, wrong.json()) == (
        403,
        {"error": "invalid_grant", "error_description": "Wrong email or password."},
    )
    unknown = acton.token(grant_type="refresh_token", refresh_token="nope")
    assert (unknown.status_code, unknown.json()) == (
        403,
        {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."},
    )
    assert "not-it" not in wrong.text


def test_bad_bearer_is_401_and_expired_session_recovers_by_refresh(limits: ActOn) -> None:
    acton = limits
    r = acton.raw("GET", "/api/1/account", token="garbage")
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    old_access, old_refresh = acton.access, acton.refresh
    acton.sandbox.faults("acton", [{"kind": "expire_session", "path": "/api/1/account", "times": 1}])
    assert acton.raw("GET", "/api/1/account").status_code == 401
    assert acton.call("GET", "/api/1/account").status_code == 200  # refreshed
    assert acton.access != old_access and acton.refresh != old_refresh
    assert acton.raw("GET", "/api/1/account", token=old_access).status_code == 401
    reused = acton.token(grant_type="refresh_token", refresh_token=old_refresh)
    assert (reused.status_code, reused.json()["error"]) == (403, "invalid_grant")


def test_a_newer_token_kills_earlier_refresh_tokens(acton: ActOn) -> None:
    earlier = acton.refresh
    acton.login()
    assert acton.token(grant_type="refresh_token", refresh_token=earlier).status_code == 403
    fresh = acton.token(grant_type="refresh_token", refresh_token=acton.refresh)
    assert fresh.status_code == 200
    acton._keep(fresh)


def test_access_tokens_expire_after_the_configured_lifetime(limits: ActOn) -> None:
    acton = limits
    acton.limits(acton_token_lifetime_s=3)  # seconds: room for a slow first call
    acton.login()
    assert acton.raw("GET", "/api/1/account").status_code == 200
    time.sleep(3.5)
    assert (acton.raw("GET", "/api/1/account").json()) == UNAUTHORIZED
    assert acton.call("GET", "/api/1/account").status_code == 200


def test_password_grants_are_limited_per_hour(limits: ActOn) -> None:
    acton, env = limits, limits.sandbox.env
    acton.limits(acton_password_grants_per_hour=3)
    statuses = [
        acton.token(
            grant_type="password", username=env["ACTON_USERNAME"], password=env["ACTON_PASSWORD"]
        ).status_code
        for _ in range(4)
    ]
    assert statuses[-1] == 429 and statuses.count(200) <= 3
    refused = acton.token(
        grant_type="password", username=env["ACTON_USERNAME"], password=env["ACTON_PASSWORD"]
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # refresh tokens are the way around the limit
    acton._keep(acton.token(grant_type="refresh_token", refresh_token=acton.refresh))
    acton.limits(acton_password_grants_per_hour=1000)
    acton.login()


def test_calls_per_second_are_limited_with_retry_after(limits: ActOn) -> None:
    acton = limits
    acton.limits(acton_rate_per_s=2.0)
    responses = [acton.raw("GET", "/api/1/account") for _ in range(6)]
    refused = [r for r in responses if r.status_code == 429]
    assert refused and responses[0].status_code == 200
    assert refused[0].json() == TOO_MANY and int(refused[0].headers["Retry-After"]) >= 1
    time.sleep(int(refused[0].headers["Retry-After"]))
    assert acton.raw("GET", "/api/1/account").status_code == 200


def test_calls_per_day_are_limited(limits: ActOn) -> None:
    acton = limits
    acton.limits(acton_daily_max=1)
    r = acton.raw("GET", "/api/1/account")
    assert (r.status_code, r.json()) == (429, TOO_MANY)
    assert 0 < int(r.headers["Retry-After"]) <= 86_400


# -- lists and merge jobs ---------------------------------------------------------------------------------
def test_account_and_the_world_has_no_salesforce_list(acton: ActOn) -> None:
    account = acton.ok("GET", "/api/1/account")
    assert account["account_id"] == acton.account_id and account["user_type"] == "Marketing"
    names = [lst["name"] for lst in acton.ok("GET", "/api/1/list?listingtype=CONTACT_LIST")["result"]]
    assert "Webinar Attendees 2025" in names
    assert not [n for n in names if n.startswith("SFDC")]


def test_list_listing_pages_to_the_end(acton: ActOn) -> None:
    for i in range(3):
        acton.new_list(f"Paging {i}")
    total = acton.ok("GET", "/api/1/list?listingtype=CONTACT_LIST&count=1000")["totalCount"]
    seen, offset = [], 0
    while True:
        page = acton.ok("GET", f"/api/1/list?listingtype=CONTACT_LIST&count=2&offset={offset}")
        seen += [lst["id"] for lst in page["result"]]
        offset += page["count"]
        if page["count"] < 2:
            break
    assert len(seen) == len(set(seen)) == total >= 4


def test_merge_job_runs_pending_running_success_and_keeps_rejects(acton: ActOn) -> None:
    list_id = acton.new_list("SFDC-like Contacts")
    rows = [
        ["ann@example.com", "Ann", "003A"],
        ["not-an-email", "Bad", "003B"],
        ["bob@example.com", "Bob", "003C"],
    ]
    r = acton.start_merge(list_id, rows, fieldseparator="COMMA", quotecharacter="DOUBLE_QUOTE")
    assert r.json()["status"] == "success" and r.json()["message"] == "Upload completed"
    seen, done = acton.wait_job(r.json()["jobId"])
    assert seen == ["The job is pending", "The job is running", "success"]
    details = done["details"]
    assert details == {
        **details,
        "status": "ok",
        "listId": list_id,
        "appendCount": 2,
        "updateCount": 0,
        "failedCount": 0,
        "rejectedCount": 1,
    }
    assert json.loads(done["jobDetails"])["appendCount"] == 2
    rejects = acton.call(
        "GET", f"/api/1/list/rejectedUploadRecords?filename={details['rejectedRecordsFileName']}"
    )
    assert list(csv.reader(io.StringIO(rejects.text))) == [
        ["not-an-email", "Bad", "003B", "Invalid email address"]
    ]
    # the merge key is the email, case-insensitive and trimmed
    done = acton.merge(list_id, [[" ANN@Example.com ", "Annie", "003A"], ["cy@example.com", "Cy", "003D"]])
    assert (done["details"]["updateCount"], done["details"]["appendCount"]) == (1, 1)
    data = acton.records(list_id)
    assert [row[1:] for row in data] == [
        ["ANN@Example.com", "Annie", "003A"],
        ["bob@example.com", "Bob", "003C"],
        ["cy@example.com", "Cy", "003D"],
    ]


def test_merge_modes(acton: ActOn) -> None:
    list_id = acton.new_list("Modes")
    acton.merge(list_id, [["a@example.com", "A", "1"], ["a@example.com", "A2", "2"]], mode="APPEND")
    assert len(acton.records(list_id)) == 2  # lists keep duplicate emails
    done = acton.merge(
        list_id, [["A@example.com", "x", "3"], ["b@example.com", "B", "4"]], "APPEND_NO_DUPLICATES"
    )
    assert done["details"]["appendCount"] == 1 and len(acton.records(list_id)) == 3
    done = acton.merge(list_id, [["b@example.com", "", "5"], ["z@example.com", "Z", "6"]], "UPDATE_ONLY")
    assert (done["details"]["updateCount"], done["details"]["appendCount"]) == (1, 0)
    assert acton.records(list_id)[2][1:] == ["b@example.com", "B", "5"]  # empty values kept by default
    acton.merge(list_id, [["b@example.com", "", "7"]], "UPDATE_ONLY", putEmptyValues="Y")
    assert acton.records(list_id)[2][1:] == ["b@example.com", "", "7"]
    done = acton.merge(list_id, [["c@example.com", "C", "8"]], "REPLACE")
    assert [row[1] for row in acton.records(list_id)] == ["c@example.com"]


def test_merge_and_job_errors(acton: ActOn) -> None:
    list_id = acton.new_list("Errors")
    cases = [
        (acton.upload("PUT", "/api/1/list/l-ffff", [["a@example.com"]], uploadspecs=SPECS[:1]), 10004),
        (
            acton.upload(
                "PUT",
                f"/api/1/list/{list_id}",
                [["a@example.com"]],
                uploadspecs=SPECS[:1],
                mergespecs=[{"dstListId": "l-fffe", "mergeMode": "UPSERT"}],
            ),
            10025,
        ),
        (
            acton.upload(
                "PUT",
                f"/api/1/list/{list_id}",
                [["x"]],
                uploadspecs=[{"columnHeading": "Name"}],
                mergespecs=[{"dstListId": list_id, "mergeMode": "UPSERT", "mergeKeyHeading": "EMAIL"}],
            ),
            10088,
        ),
        (acton.call("PUT", f"/api/1/list/{list_id}", data={"uploadspecs": json.dumps(SPECS)}), 10003),
        (acton.call("GET", "/api/1/list/99/status"), 10017),
        (acton.call("GET", "/api/1/list/l-ffff"), 10004),
        (acton.call("DELETE", "/api/1/list/l-ffff"), 10004),
    ]
    for r, code in cases:
        assert r.status_code == 400 and r.json()["errorCode"] == code, r.text
    assert acton.call("GET", "/api/1/list/l-ffff").json() == {
        "errorCode": 10004,
        "message": "Invalid or missing list",
    }


def test_row_error_and_failed_job_faults(limits: ActOn) -> None:
    acton = limits
    list_id = acton.new_list("Faults")
    acton.sandbox.faults(
        "acton",
        [
            {
                "kind": "row_error",
                "method": "PUT",
                "path": f"/api/1/list/{list_id}",
                "fraction": 1.0,
                "error": "SIMULATED_FAILURE",
                "times": 1,
            }
        ],
    )
    done = acton.merge(list_id, [["a@example.com", "A", "1"], ["b@example.com", "B", "2"]])
    assert (done["details"]["failedCount"], done["details"]["appendCount"]) == (2, 0)
    rejects = acton.call(
        "GET", f"/api/1/list/rejectedUploadRecords?filename={done['details']['rejectedRecordsFileName']}"
    )
    assert "SIMULATED_FAILURE" in rejects.text
    acton.sandbox.faults("acton", [{"kind": "bulk_job_failed", "path": f"/api/1/list/{list_id}", "times": 1}])
    done = acton.merge(list_id, [["a@example.com", "A", "1"]])
    assert done["status"] == "failed" and acton.records(list_id) == []
    assert acton.merge(list_id, [["a@example.com", "A", "1"]])["status"] == "success"


def test_uploads_over_the_size_limit_are_refused(limits: ActOn) -> None:
    acton = limits
    list_id = acton.new_list("Big")
    acton.limits(acton_upload_max_bytes=200)
    r = acton.upload(
        "PUT",
        f"/api/1/list/{list_id}",
        [[f"p{i}@example.com", "P", str(i)] for i in range(50)],
        uploadspecs=SPECS,
    )
    assert r.status_code == 413 and r.json()["httpCode"] == "413"


def test_list_download_pages_filters_fields_and_csv(acton: ActOn) -> None:
    list_id = acton.new_list("Download")
    acton.merge(list_id, [[f"p{i}@example.com", f"P{i}", str(i)] for i in range(5)], mode="APPEND")
    before = int(time.time() * 1000)
    time.sleep(0.01)
    acton.merge(list_id, [["p1@example.com", "Changed", "1"]])
    rows, offset = [], 0
    while True:
        page = acton.ok("GET", f"/api/1/list/{list_id}?count=2&offset={offset}")
        assert page["totalCount"] == 5 and page["headers"][page["emailColumn"]] == "E-mail Address"
        rows += page["data"]
        offset += page["count"]
        if page["count"] < 2:
            break
    assert [r[0] for r in rows] == [f"{list_id}:{i}" for i in range(5)]
    changed = acton.ok("GET", f"/api/1/list/{list_id}?modafter={before}&fields=First Name;E-mail Address")
    assert changed["headers"] == ["_contact_id_", "First Name", "E-mail Address"]
    assert changed["data"] == [[f"{list_id}:1", "Changed", "p1@example.com"]]
    dated = acton.ok("GET", f"/api/1/list/{list_id}?count=1&datequalifiers=true")
    assert dated["headers"][-2:] == ["_created_date_", "_modified_date_"] and dated["data"][0][-1].isdigit()
    whole = acton.call("GET", f"/api/1/list/{list_id}?responseformat=CSV&count=1")
    parsed = list(csv.reader(io.StringIO(whole.text)))
    assert parsed[0][0] == "_contact_id_" and len(parsed) == 6
    assert acton.call("GET", f"/api/1/list/{list_id}?fields=Nope").json()["errorCode"] == "10010"
    assert acton.call("GET", f"/api/1/list/{list_id}?modafter=yesterday").json()["errorCode"] == 10160
    assert acton.ok("DELETE", f"/api/1/list/{list_id}")["status"] == "success"
    assert acton.call("GET", f"/api/1/list/{list_id}").json()["errorCode"] == 10004


# -- records ----------------------------------------------------------------------------------------------
def test_records_insert_upsert_get_update_delete_lookup(acton: ActOn) -> None:
    list_id = acton.new_list("Records")
    added = acton.ok(
        "POST", f"/api/1/list/{list_id}/record", json={"EMAIL": "rec@example.com", "First Name": "R"}
    )
    assert added["message"] == "Record inserted" and added["id"] == added["contact_id"] == f"{list_id}:0"
    acton.ok(
        "POST",
        f"/api/1/list/{list_id}/record",
        json={"E-mail Address": "REC@example.com", "FIRSTNAME": "Dup"},
    )
    upserted = acton.ok(
        "PUT", f"/api/1/list/{list_id}/record?email=rec@example.com", json={"First Name": "Up"}
    )
    assert (upserted["message"], upserted["id"]) == ("Record updated", f"{list_id}:0")  # the first match
    inserted = acton.ok(
        "PUT", f"/api/1/list/{list_id}/record?email=new@example.com", json={"First Name": "N"}
    )
    assert (inserted["message"], inserted["id"]) == ("Record inserted", f"{list_id}:2")
    assert acton.ok("GET", f"/api/1/list/{list_id}/record/{list_id}:0") == [
        f"{list_id}:0",
        "rec@example.com",
        "Up",
        "",
    ]
    acton.ok("PUT", f"/api/1/list/{list_id}/record/{list_id}:0", json={"Salesforce Id": "003X"})
    assert acton.ok("GET", f"/api/1/list/{list_id}/record/{list_id}:0")[-1] == "003X"
    found = acton.ok("GET", f"/api/1/list/lookup/{list_id}?email=%20Rec@Example.com")
    assert found == {
        "contactID": f"{list_id}:0",
        "E-mail Address": "rec@example.com",
        "First Name": "Up",
        "Salesforce Id": "003X",
    }
    assert acton.ok("DELETE", f"/api/1/list/{list_id}/record/{list_id}:1") == {
        "status": "success",
        "message": "Record deleted",
    }
    bulk = acton.ok("DELETE", f"/api/1/list/{list_id}/record?contactids={list_id}:0,{list_id}:a")
    assert bulk == {
        "success_count": 1,
        "fail_count": 1,
        "failedList": [{"id": f"{list_id}:a", "reason": "Invalid contact id"}],
    }
    too_many = ",".join(f"{list_id}:{i}" for i in range(101))
    assert acton.call("DELETE", f"/api/1/list/{list_id}/record?contactids={too_many}").status_code == 400
    errors = [
        (acton.call("GET", f"/api/1/list/{list_id}/record/{list_id}:0"), 10008),
        (acton.call("DELETE", f"/api/1/list/{list_id}/record/{list_id}:0"), 10008),
        (acton.call("GET", "/api/1/list/l-ffff/record/l-ffff:0"), 10004),
        (acton.call("POST", f"/api/1/list/{list_id}/record", json={"Nope": "x"}), "10010"),
        (acton.call("GET", f"/api/1/list/lookup/{list_id}?email=none@example.com"), 10008),
    ]
    for r, code in errors:
        assert r.status_code == 400 and r.json()["errorCode"] == code, r.text
    assert acton.call("GET", f"/api/1/list/{list_id}/record/{list_id}:0").json() == {
        "errorCode": 10008,
        "message": "Invalid contact",
    }


def test_facts_show_score_and_activity_of_the_person(acton: ActOn) -> None:
    webinar = next(
        lst for lst in acton.ok("GET", "/api/1/list")["result"] if lst["name"] == "Webinar Attendees 2025"
    )
    first = acton.records(webinar["id"])[0]
    facts = acton.ok("GET", f"/api/1/list/{webinar['id']}/record/{first[0]}/facts")
    activity = facts["activity"]
    scores = {c["email"].strip().lower(): c["fields"]["Act-On Primary Score"] for c in v2_contacts(acton)}
    assert activity["score"] == scores[first[3].strip().lower()] and activity["ScorePeriod"] == "90 days"
    details = activity["ScoreDetails"]
    assert abs(sum(d["score"] for d in details) - activity["score"]) <= len(details)
    assert any(a["Verb"] == "wr" for a in facts["activitylist"])  # everyone on the list registered
    times = [a["WhenMillis"] for a in facts["activitylist"]]
    assert times == sorted(times, reverse=True)


# -- opt-outs, bounces, complaints ----------------------------------------------------------------------
def pages(acton: ActOn, path: str, count: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """The pages of an offset-paged v1 call, each with the offset asked for, up to the first short page."""
    offset, sep = 0, "&" if "?" in path else "?"
    while True:
        page = acton.ok("GET", f"{path}{sep}count={count}&offset={offset}")
        yield offset, page
        if page["count"] < count:
            return
        offset += page["count"]


def page_all(acton: ActOn, path: str, count: int = 7) -> list[dict[str, Any]]:
    """Page a v1 suppression list until a short page (its totalCount is always -1)."""
    rows = []
    for offset, page in pages(acton, path, count):
        assert page["totalCount"] == -1 and page["offset"] == offset
        rows += page["result"]
    return rows


def test_optout_lists_page_and_uploads_opt_out_and_in(acton: ActOn) -> None:
    before = page_all(acton, "/api/1/list/optout")
    assert before and all(set(r) == {"email", "timestamp", "origin"} for r in before)
    assert len({r["email"].strip().lower() for r in before}) == len(before)
    assert page_all(acton, "/api/1/list/hardbounce") and all(
        "timestamp" in r for r in page_all(acton, "/api/1/list/spamcomplaint")
    )
    mark = int(time.time() * 1000)
    body = acton.call(
        "PUT",
        "/api/1/list/optout",
        files={"file": ("o.csv", "new.optout@example.com\nnot-an-email\n\nNEW.two@Example.com\n")},
    ).json()
    assert body == {
        **body,
        "status": "success",
        "emptyRecords": 1,
        "rejectedRecords": 1,
        "message": "2 invalid or empty records rejected. 2 valid records processed.",
    }
    assert (
        acton.call("GET", body["rejectedRecordsUrl"].replace(acton.base, "")).text.strip()
        == "not-an-email,Invalid email address"
    )
    recent = page_all(acton, f"/api/1/list/optout?createdafter={mark}")
    assert sorted(r["email"] for r in recent) == ["NEW.two@Example.com", "new.optout@example.com"]
    assert all(r["origin"].endswith("via Act-On API") for r in recent)
    acton.ok("PUT", "/api/1/list/optin", files={"file": ("i.csv", " new.two@example.com \n")})
    assert [r["email"] for r in page_all(acton, f"/api/1/list/optout?createdafter={mark}")] == [
        "new.optout@example.com"
    ]
    assert len(page_all(acton, "/api/1/list/optout")) == len(before) + 1


# -- messages ---------------------------------------------------------------------------------------------
def test_messages_reports_and_drilldowns_agree(acton: ActOn) -> None:
    listed = [page for _, page in pages(acton, "/api/1/message?type=SENT", 10)]
    messages = [m for page in listed for m in page["msgresult"]]
    assert len(messages) == listed[-1]["totalCount"] > 10 and {m["msgType"] for m in messages} == {"SENT"}
    msg = max(messages, key=lambda m: acton.ok("GET", f"/api/1/message/{m['msgId']}/report")["sent"])["msgId"]
    report = acton.ok("GET", f"/api/1/message/{msg}/report")
    assert report["status"] == "ok" and report["msgId"] == msg and report["sent"] > 0

    def drill(verb: str) -> list[dict[str, Any]]:
        listed = [page for _, page in pages(acton, f"/api/1/message/{msg}/report/{verb}", 25)]
        rows = [r for page in listed for r in page["result"]]
        assert listed[-1]["totalCount"] == len(rows)
        return rows

    sent = drill("SENT")
    assert len({r["contactId"] for r in sent}) == report["sent"]
    assert all(set(r) == {"email", "contactId", "timestamp"} for r in sent)
    opened = drill("OPENED")
    assert [len({r["contactId"] for r in opened}), len(opened)] == report["opened"]
    assert len({r["contactId"] for r in drill("BOUNCED")}) == report["bounced"]
    as_csv = list(
        csv.reader(
            io.StringIO(acton.call("GET", f"/api/1/message/{msg}/report/SENT?responseformat=CSV").text)
        )
    )
    assert as_csv[0] == ["email", "contactId", "timestamp"] and len(as_csv) == len(sent) + 1
    bad_verb = acton.call("GET", f"/api/1/message/{msg}/report/FORWARDED")
    assert (bad_verb.status_code, bad_verb.json()) == (
        400,
        {"errorCode": 10089, "message": "Invalid drill-down verb"},
    )
    assert acton.call("GET", "/api/1/message/s-dead-0000/report").json()["errorCode"] == 10030


# -- v2 unified contacts and scores ---------------------------------------------------------------------
def v2_contacts(acton: ActOn, query: str = "", page_size: int = 1000) -> list[dict[str, Any]]:
    out, page = [], 0
    while True:
        body = acton.ok("GET", f"/ucl/v2/{acton.account_id}/contact/?page={page}&pageSize={page_size}{query}")
        assert body["page"] == page and body["pageSize"] == page_size
        out += body["contacts"]
        if len(body["contacts"]) < page_size:
            assert body["totalCount"] == len(out)
            return out
        page += 1


def test_v2_schema_has_the_primary_score(acton: ActOn) -> None:
    schema = acton.ok("GET", f"/ucl/v2/{acton.account_id}/schema/")
    score_col = next(c for c in schema["columns"] if c["name"] == "Act-On Primary Score")
    assert (score_col["type"], score_col["standardFieldMapping"]) == ("SCORE", "ACTON_PRIMARY_SCORE")
    assert acton.call("GET", "/ucl/v2/999/schema/").status_code == 403


def test_v2_contacts_page_and_filter_in_seconds(acton: ActOn) -> None:
    everyone = v2_contacts(acton)
    assert everyone == v2_contacts(acton, page_size=50)[: len(everyone)]
    assert acton.ok("GET", f"/ucl/v2/{acton.account_id}/contact/")["pageSize"] == 50
    assert all(isinstance(c["fields"]["Act-On Primary Score"], int) for c in everyone)
    assert any(c["email"] != c["email"].strip().lower() for c in everyone)  # Act-On keeps what was typed
    created = sorted(c["createdAt"] for c in everyone)
    middle = created[len(created) // 2]
    assert all(c["createdAt"] >= middle for c in v2_contacts(acton, f"&createdAfter={middle}"))
    assert len(v2_contacts(acton, f"&createdAfter={middle}")) == sum(1 for t in created if t >= middle)
    assert created[-1] < 10**11  # seconds, not milliseconds


def test_a_simulated_score_change_moves_updated_at(acton: ActOn) -> None:
    before = {c["id"]: c for c in v2_contacts(acton)}
    mark = int(time.time())
    time.sleep(1.1)
    acton.sandbox.admin("acton", "POST", "simulate", {"hours": 24})
    changed = {c["id"]: c for c in v2_contacts(acton, f"&updatedAfter={mark}")}
    moved = [
        i
        for i, c in before.items()
        if i in changed
        and changed[i]["fields"]["Act-On Primary Score"] != c["fields"]["Act-On Primary Score"]
    ]
    assert moved
    after = {c["id"]: c for c in v2_contacts(acton)}
    for i, c in before.items():
        if after[i]["fields"]["Act-On Primary Score"] != c["fields"]["Act-On Primary Score"]:
            assert i in changed and after[i]["updatedAt"] >= mark


# -- the score rule and the world, in process -------------------------------------------------------------
def test_score_rule_decays_and_caps(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    ensure_tables(store)
    now = 1_767_225_600_000
    day = score.DAY_MS
    activity = [
        ("a", "r", now - 10 * day),
        ("a", "fs", now - 40 * day),
        ("a", "os", now - 100 * day),
        *[("b", "wa", now - day)] * 10,
        ("c", "sv", now + day),  # not yet happened at the as-of time
    ]
    with store.transaction() as c:
        for ident in "abc":
            c.execute(
                "INSERT INTO acton_contacts VALUES (?, ?, ?, NULL, NULL, NULL, NULL, NULL, 'x', 5, 0, 0)",
                (ident, f"{ident}@x.example", f"{ident}@x.example"),
            )
        c.executemany("INSERT INTO acton_activity VALUES (?, ?, ?, NULL, NULL)", activity)
        assert score.rescore(c, now, 42) == 3
    got = dict(store.conn.execute("SELECT id, score FROM acton_contacts"))
    assert got == {"a": score.POINTS["r"][0] + score.POINTS["fs"][0] // 2, "b": 100, "c": 0}
    assert {r[0] for r in store.conn.execute("SELECT updated_at FROM acton_contacts")} == {42}


def _world(path: Path, seed: int) -> Store:
    store = Store(path)
    store.set_meta("world_clock", "2026-01-01T00:00:00.000+0000")
    people = [
        {
            "FirstName": "Ann",
            "LastName": f"L{i}",
            "Email": f"  Person{i}@Example.com " if i % 7 == 0 else f"p{i}@example.com",
            "Company": "Acme",
            "Status": "Open",
            "HasOptedOutOfEmail": int(i % 5 == 0),
            "CreatedDate": "2025-06-01T10:00:00.000+0000",
        }
        for i in range(300)
    ]
    store.insert(
        "Lead", [*people, {"LastName": "NoMail", "Company": "Acme", "Status": "Open", "Email": "bad@"}]
    )
    store.insert("Contact", [{"LastName": "C", "Email": "P1@EXAMPLE.COM", "HasOptedOutOfEmail": 0}])
    acton_world.generate(store, random.Random(seed))
    for hour in range(3):
        acton_world.simulate_hour(
            store,
            random.Random(f"{seed}-{hour}"),
            f"2026-01-01T{hour:02d}:00:00.000+0000",
            f"2026-01-01T{hour + 1:02d}:00:00.000+0000",
        )
    return store


_BUSINESS_COLUMNS = {
    "acton_contacts": "id, email, first_name, score, created_at, origin",
    "acton_activity": "contact_id, verb, ts_ms, msg_id, what",
    "acton_suppressions": "kind, email, ts_ms, origin",
    "acton_consent_events": "email, event, ts_ms, origin",
    "acton_messages": "id, name, sent_ms",
    "acton_records": "list_id, rec, data",
}


def test_world_mirrors_salesforce_people_and_is_deterministic(tmp_path: Path) -> None:
    one, two = _world(tmp_path / "a.sqlite", 3), _world(tmp_path / "b.sqlite", 3)
    for table, cols in _BUSINESS_COLUMNS.items():
        q = f"SELECT {cols} FROM {table} ORDER BY rowid"
        assert one.conn.execute(q).fetchall() == two.conn.execute(q).fetchall(), table
    c = one.conn
    sf = {f"p{i}@example.com" for i in range(300) if i % 7} | {
        f"person{i}@example.com" for i in range(0, 300, 7)
    }
    acton = {e for (e,) in c.execute("SELECT email_norm FROM acton_contacts WHERE origin = 'Salesforce'")}
    assert acton <= sf and 0.8 * len(sf) < len(acton) < len(sf)  # most, not all, and never the invalid one
    assert c.execute("SELECT COUNT(*) FROM acton_contacts WHERE origin = 'Form'").fetchone()[0] > 0
    assert (
        c.execute("SELECT COUNT(*) FROM acton_contacts WHERE email != trim(lower(email))").fetchone()[0] > 0
    )
    opted_sf = {f"p{i}@example.com" for i in range(0, 300, 5) if i % 7} | {
        f"person{i}@example.com" for i in range(0, 300, 35)
    }
    opted_acton = {e for (e,) in c.execute("SELECT email_norm FROM acton_suppressions WHERE kind = 'optout'")}
    assert opted_sf & opted_acton and opted_sf - opted_acton and opted_acton - opted_sf  # agree and disagree
    assert c.execute("SELECT COUNT(*) FROM acton_suppressions WHERE kind = 'hardbounce'").fetchone()[0] > 0
    assert c.execute("SELECT MAX(score) FROM acton_contacts").fetchone()[0] > 0
    names = [n for (n,) in c.execute("SELECT name FROM acton_lists")]
    assert names == ["Webinar Attendees 2025"]
    clock = 1_767_225_600_000 + 3 * 3_600_000
    assert c.execute("SELECT MAX(ts_ms) FROM acton_activity").fetchone()[0] <= clock


def test_world_opt_ins_leave_an_event_and_the_list(tmp_path: Path) -> None:
    store = _world(tmp_path / "w.sqlite", 8)
    c = store.conn
    opted_in = c.execute(
        "SELECT e.email_norm FROM acton_consent_events e WHERE e.event = 'optin' AND NOT EXISTS "
        "(SELECT 1 FROM acton_consent_events o WHERE o.email_norm = e.email_norm AND o.event = 'optout' AND o.ts_ms > e.ts_ms)"
    ).fetchall()
    assert opted_in
    listed = {e for (e,) in c.execute("SELECT email_norm FROM acton_suppressions WHERE kind = 'optout'")}
    assert not {e for (e,) in opted_in} & listed
