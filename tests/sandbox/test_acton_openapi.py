"""The Act-On sandbox's responses against Act-On's own OpenAPI files: the response schema and, where the files
give a non-empty example, the example's shape (every key it shows, with the same JSON type)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from tests.sandbox.test_sandbox_acton import SPECS, ActOn, open_acton

_CANDIDATES = [
    os.environ.get("ACTON_OPENAPI_DIR", ""),
    Path(__file__).parents[2] / "docs" / "reference" / "acton-openapi",
]
SPEC_DIR = next((Path(p) for p in _CANDIDATES if p and (Path(p) / "act-on-api-1.json").exists()), None)
pytestmark = pytest.mark.skipif(
    SPEC_DIR is None, reason="Act-On OpenAPI files not found (set ACTON_OPENAPI_DIR)"
)


@dataclass
class State:
    """What the operations need: a list with records, a sent message."""

    acton: ActOn
    list_id: str
    message_id: str


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    for acton in open_acton(tmp_path_factory, "acton-openapi"):
        list_id = acton.new_list("OpenAPI")
        acton.merge(list_id, [[f"o{i}@example.com", f"O{i}", f"00Q{i}"] for i in range(3)], mode="APPEND")
        message = acton.ok("GET", "/api/1/message?type=SENT&count=1")["msgresult"][0]["msgId"]
        yield State(acton, list_id, message)


def _example(raw: Any) -> Any:
    """Example values are JSON text in the files, some of it broken: ``{}{...}`` and trailing commas."""
    if not isinstance(raw, str):
        return raw
    text = re.sub(r",\s*([}\]])", r"\1", raw.strip())
    if text.startswith("{}") and len(text) > 2:
        text = text[2:]
    return json.loads(text) if text else None


def _json_schema(node: Any) -> Any:
    """OpenAPI to JSON Schema: the files' oneOf alternatives overlap (titled variants), so they mean anyOf."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _json_schema(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    return node


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_shape(example: Any, actual: Any, where: str = "$") -> None:
    if example is None:  # a null in an example says nothing about the type
        return
    assert _kind(actual) == _kind(example), f"{where}: {actual!r} is not shaped like {example!r}"
    if isinstance(example, dict):
        for key, value in example.items():
            assert key in actual, f"{where}: missing {key!r}"
            assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(example, list) and example and actual:
        assert_shape(example[0], actual[0], f"{where}[0]")


def _spec(file: str) -> dict[str, Any]:
    assert SPEC_DIR is not None
    return json.loads((SPEC_DIR / file).read_text())


def check(
    file: str, method: str, path: str, status: int, r: requests.Response, example: str | None = None
) -> None:
    """``r`` must have the documented status, match the schema, and be shaped like the (named) example."""
    operation = _spec(file)["paths"][path][method.lower()]
    assert r.status_code == status, (r.status_code, r.text)
    contents = operation["responses"][str(status)]["content"]
    examples = {name: ex for c in contents.values() for name, ex in c.get("examples", {}).items()}
    schemas = [c["schema"] for c in contents.values() if "schema" in c]
    body = r.json()
    if schemas:
        jsonschema.validate(body, _json_schema(schemas[0]))
    chosen = [examples[example]] if example else list(examples.values())
    shapes = [s for s in (_example(e.get("value")) for e in chosen) if s not in ({}, None)]
    failures = []
    for shape in shapes:
        try:
            assert_shape(shape, body)
            return
        except AssertionError as e:
            failures.append(str(e))
    assert not shapes, failures


API, RAW, OAUTH = "act-on-api-1.json", "act-on-api-raw-body.json", "act-on-oauth.json"
Case = Callable[[State], None]


def _by_name(*cases: Case) -> dict[str, Case]:
    return {case.__name__: case for case in cases}


def _credentials(s: State) -> dict[str, str]:
    env = s.acton.sandbox.env
    return {"username": env["ACTON_USERNAME"], "password": env["ACTON_PASSWORD"]}


def _csv_upload(
    s: State, path: str, mergespecs: Any, rows: str = "Email\nx@example.com\n"
) -> requests.Response:
    data = {"uploadspecs": json.dumps(SPECS[:1]), "headings": "Y"}
    if mergespecs is not None:
        data["mergespecs"] = json.dumps(mergespecs)
    return s.acton.call("PUT", path, data=data, files={"file": ("f.csv", rows)})


def _job(s: State, polls: int) -> requests.Response:
    job = _csv_upload(s, f"/api/1/list/{s.list_id}", [{"dstListId": s.list_id, "mergeMode": "UPSERT"}])
    for _ in range(polls - 1):
        s.acton.call("GET", f"/api/1/list/{job.json()['jobId']}/status")
    return s.acton.call("GET", f"/api/1/list/{job.json()['jobId']}/status")


def _token_cases() -> dict[str, Case]:
    def password(s: State) -> None:
        r = s.acton.token(grant_type="password", **_credentials(s))
        check(OAUTH, "POST", "/token?grant_type=password", 200, r)
        s.acton._keep(r)

    def refresh(s: State) -> None:
        r = s.acton.token(grant_type="refresh_token", refresh_token=s.acton.refresh)
        check(OAUTH, "POST", "/token", 200, r)
        s.acton._keep(r)

    def bad_client(s: State) -> None:
        for path, form in (
            ("/token?grant_type=password", _credentials(s)),
            ("/token", {"refresh_token": "x"}),
        ):
            r = s.acton.http.post(
                f"{s.acton.base}/token",
                data={"client_id": "no", "client_secret": "no", **form},
                verify=s.acton.ca,
                timeout=30,
            )
            check(OAUTH, "POST", path, 401, r)

    def bad_user_and_refresh(s: State) -> None:
        wrong = s.acton.token(grant_type="password", username="someone@example.com", password="x")
        check(OAUTH, "POST", "/token?grant_type=password", 403, wrong)
        check(OAUTH, "POST", "/token", 403, s.acton.token(grant_type="refresh_token", refresh_token="spent"))
        check(RAW, "POST", "/token", 400, s.acton.token(grant_type="client_credentials"))

    return _by_name(password, refresh, bad_client, bad_user_and_refresh)


def _list_cases() -> dict[str, Case]:
    def listing(s: State) -> None:
        check(API, "GET", "/api/1/list", 200, s.acton.call("GET", "/api/1/list?listingtype=CONTACT_LIST"))

    def create_and_delete(s: State) -> None:
        created = s.acton.call(
            "POST", "/api/1/list", data={"listname": "Doomed", "uploadspecs": json.dumps(SPECS)}
        )
        check(API, "POST", "/api/1/list", 200, created)
        deleted = s.acton.call("DELETE", f"/api/1/list/{created.json()['listId']}")
        check(API, "DELETE", "/api/1/list/{listid}", 200, deleted)

    def download(s: State) -> None:
        check(API, "GET", "/api/1/list/{listid}", 200, s.acton.call("GET", f"/api/1/list/{s.list_id}"))

    def merge(s: State) -> None:
        ok = _csv_upload(s, f"/api/1/list/{s.list_id}", [{"dstListId": s.list_id, "mergeMode": "UPSERT"}])
        check(API, "PUT", "/api/1/list/{listid}", 200, ok)
        for example, r in (
            ("Invalid List in Parameter", _csv_upload(s, "/api/1/list/l-ffff", None)),
            (
                "Invalid list in mergespec",
                _csv_upload(s, f"/api/1/list/{s.list_id}", [{"dstListId": "l-fffe"}]),
            ),
            ("Missing Column", _csv_upload(s, f"/api/1/list/{s.list_id}", [{"mergeKeyHeading": "Region"}])),
            ("Input file missing", s.acton.call("PUT", f"/api/1/list/{s.list_id}", data={"headings": "Y"})),
        ):
            check(API, "PUT", "/api/1/list/{listid}", 400, r, example)

    def job_status(s: State) -> None:
        path = "/api/1/list/{jobid}/status"
        check(API, "GET", path, 200, _job(s, 1), "Job Pending")
        check(API, "GET", path, 200, _job(s, 2), "Job Running")
        check(API, "GET", path, 200, _job(s, 3), "Successful Response")
        check(API, "GET", path, 400, s.acton.call("GET", "/api/1/list/12/status"))

    def rejected(s: State) -> None:
        r = s.acton.call("GET", "/api/1/list/rejectedUploadRecords?filename=missing.csv")
        check(API, "GET", "/api/1/list/rejectedUploadRecords", 400, r)

    def suppressions(s: State) -> None:
        for kind in ("hardbounce", "spamcomplaint", "optout"):
            check(API, "GET", f"/api/1/list/{kind}", 200, s.acton.call("GET", f"/api/1/list/{kind}?count=5"))
        for kind in ("optout", "optin"):
            r = s.acton.call("PUT", f"/api/1/list/{kind}", files={"file": ("e.csv", "z@example.com\n")})
            check(API, "PUT", f"/api/1/list/{kind}", 200, r)

    return _by_name(listing, create_and_delete, download, merge, job_status, rejected, suppressions)


def _record_cases() -> dict[str, Case]:
    def records(s: State) -> None:
        base = f"/api/1/list/{s.list_id}/record"
        added = s.acton.call("POST", base, json={"EMAIL": "rec@example.com", "FIRSTNAME": "Rec"})
        check(RAW, "POST", "/api/1/list/{listid}/record", 200, added)
        check(RAW, "POST", "/api/1/list/{listid}/record", 400, s.acton.call("POST", base, json={"NOPE": "x"}))
        upsert = s.acton.call("PUT", f"{base}?email=rec@example.com", json={"First Name": "Again"})
        check(RAW, "PUT", "/api/1/list/{listid}/record", 200, upsert)
        rid = added.json()["id"]
        one = "/api/1/list/{listid}/record/{recordid}"
        check(RAW, "PUT", one, 200, s.acton.call("PUT", f"{base}/{rid}", json={"Salesforce Id": "003Z"}))
        check(RAW, "PUT", one, 400, s.acton.call("PUT", f"/api/1/list/l-ffff/record/{rid}", json={}))
        check(API, "GET", one, 200, s.acton.call("GET", f"{base}/{rid}"))
        check(API, "GET", one, 400, s.acton.call("GET", f"/api/1/list/l-ffff/record/{rid}"))
        facts = s.acton.call("GET", f"{base}/{rid}/facts")
        check(API, "GET", "/api/1/list/{listid}/record/{recordid}/facts", 200, facts)
        lookup = "/api/1/list/lookup/{listid}"
        for email, status in (("rec@example.com", 200), ("no@example.com", 400)):
            found = s.acton.call("GET", f"/api/1/list/lookup/{s.list_id}?email={email}")
            check(API, "GET", lookup, status, found)
        check(API, "DELETE", one, 200, s.acton.call("DELETE", f"{base}/{rid}"))
        check(API, "DELETE", one, 400, s.acton.call("DELETE", f"{base}/{rid}"))
        second = s.acton.call("POST", base, json={"EMAIL": "two@example.com"}).json()["id"]
        bulk = "/api/1/list/{listid}/record"
        deleted = s.acton.call("DELETE", f"{base}?contactids={second}")
        check(API, "DELETE", bulk, 200, deleted, "Successful Response")
        failed = s.acton.call("DELETE", f"{base}?contactids={s.list_id}:0,{s.list_id}:a")
        check(API, "DELETE", bulk, 200, failed, "Failed Records")

    return _by_name(records)


def _engagement_cases() -> dict[str, Case]:
    def messages(s: State) -> None:
        check(API, "GET", "/api/1/message?", 200, s.acton.call("GET", "/api/1/message?type=SENT&count=5"))
        report = "/api/1/message/{id}/report"
        check(API, "GET", report, 200, s.acton.call("GET", f"/api/1/message/{s.message_id}/report"))
        check(API, "GET", report, 400, s.acton.call("GET", "/api/1/message/s-dead-0000/report"))
        drill = "/api/1/message/{id}/report/{drilldown}"
        for verb in ("SENT", "SUPPRESSED", "OPENED", "CLICKED", "BOUNCED", "OPT_OUT", "SPAM"):
            r = s.acton.call("GET", f"/api/1/message/{s.message_id}/report/{verb}?count=5")
            check(API, "GET", drill, 200, r)
        check(API, "GET", drill, 400, s.acton.call("GET", f"/api/1/message/{s.message_id}/report/NOPE"))
        check(API, "GET", drill, 404, s.acton.call("GET", "/api/1/message/s-dead-0000/report/SENT"))

    def unified(s: State) -> None:
        account = s.acton.account_id
        check(
            API, "GET", "/ucl/v2/{accountId}/schema/", 200, s.acton.call("GET", f"/ucl/v2/{account}/schema/")
        )
        page = s.acton.call("GET", f"/ucl/v2/{account}/contact/?page=0&pageSize=10")
        check(API, "GET", "/ucl/v2/{accountId}/contact/", 200, page)

    return _by_name(messages, unified)


CASES = {**_token_cases(), **_list_cases(), **_record_cases(), **_engagement_cases()}


@pytest.mark.parametrize("name", CASES)
def test_operation_matches_openapi(state: State, name: str) -> None:
    CASES[name](state)


def test_shape_check_catches_a_missing_key() -> None:
    with pytest.raises(AssertionError, match="missing 'jobId'"):
        assert_shape({"status": "success", "jobId": "1"}, {"status": "success"})
    with pytest.raises(AssertionError):
        assert_shape({"data": [["l-0001:0"]]}, {"data": [[1]]})
    assert _example('{}{"a": 1}') == {"a": 1} and _example('{"a": "x",\n}') == {"a": "x"}
