"""Faults that make the Act-On sandbox answer as real services do on a bad day, over real HTTPS: a body other than
the real one, pages shorter than asked for, and the world changing between two pages of a read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests

from sandbox.launcher import Sandbox
from tests.sandbox.test_sandbox_acton import ActOn

OPTOUTS = "/api/1/list/optout"
UNLIMITED_RATE = {"acton_rate_per_s": 10_000.0}


@pytest.fixture(scope="module")
def shared(sandbox: Sandbox) -> Iterator[ActOn]:
    """A client of the session's sandbox, without the per-second limit while this module runs (one password grant:
    the session's other tests keep theirs)."""
    before = sandbox.admin("acton", "GET", "limits")
    sandbox.admin("acton", "POST", "limits", UNLIMITED_RATE)
    client = ActOn(sandbox)
    client.login()
    yield client
    sandbox.admin("acton", "POST", "limits", before)


@pytest.fixture
def own(fresh_sandbox: Sandbox) -> ActOn:
    fresh_sandbox.admin("acton", "POST", "limits", UNLIMITED_RATE)
    client = ActOn(fresh_sandbox)
    client.login()
    return client


def _optouts(acton: ActOn, count: int, offset: int = 0) -> list[dict[str, Any]]:
    return acton.ok("GET", OPTOUTS, params={"count": count, "offset": offset})["result"]


def test_body_fault_answers_its_body_once_then_the_real_answer(shared: ActOn, clean_faults: Sandbox) -> None:
    rule = {"method": "GET", "path": OPTOUTS, "kind": "body", "body": {"status": "failure"}, "times": 1}
    clean_faults.faults("acton", [rule])
    counted = clean_faults.stats("acton")["by_endpoint"].get(f"GET {OPTOUTS}", 0)
    faulted = shared.call("GET", OPTOUTS, params={"count": 5})
    assert (faulted.status_code, faulted.headers["content-type"]) == (200, "application/json")
    assert faulted.json() == {"status": "failure"}
    real = shared.ok("GET", OPTOUTS, params={"count": 5})
    assert real["count"] == len(real["result"]) == 5 and real["totalCount"] == -1
    assert clean_faults.stats("acton")["by_endpoint"][f"GET {OPTOUTS}"] == counted + 2
    assert [r["fired"] for r in clean_faults.admin("acton", "GET", "faults")["rules"]] == [1]


def test_page_max_shortens_v1_and_v2_pages_until_lifted(shared: ActOn) -> None:
    v2 = f"/ucl/v2/{shared.ok('GET', '/api/1/account')['account_id']}/contact/"
    shared.limits(acton_page_max=7)
    try:
        capped = shared.ok("GET", OPTOUTS, params={"count": 100})
        assert capped["count"] == len(capped["result"]) == 7
        contacts = shared.ok("GET", v2, params={"pageSize": 50})
        assert contacts["pageSize"] == len(contacts["contacts"]) == 7
    finally:
        shared.limits(acton_page_max=1000)
    lifted = shared.ok("GET", OPTOUTS, params={"count": 100})
    assert lifted["count"] == len(lifted["result"]) > 7
    assert len(shared.ok("GET", v2, params={"pageSize": 50})["contacts"]) == 50


def test_mutate_fault_opts_in_between_two_pages(own: ActOn) -> None:
    sb = own.sandbox
    before = _optouts(own, 1000)
    gone = before[1]["email"]
    opt_in = [{"op": "acton_opt_in", "email": gone}]
    sb.faults(
        "acton", [{"method": "GET", "path": OPTOUTS, "kind": "mutate", "every": 2, "times": 1, "ops": opt_in}]
    )
    page1, page2 = _optouts(own, 3), _optouts(own, 3, offset=3)
    assert page1 == before[:3]
    # the opt-in lands before page 2 is read, so every later row moves up one: offset paging skips before[3]
    assert page2 == before[4:7]
    assert _optouts(own, 1000) == before[:1] + before[2:]
    with closing(sqlite3.connect(f"file:{sb.data_dir / 'sandbox.sqlite'}?mode=ro", uri=True)) as db:
        events = db.execute(
            "SELECT event, origin FROM acton_consent_events WHERE email = ? ORDER BY ts_ms", (gone,)
        ).fetchall()
    assert events[-1] == ("optin", "Preference Center")


def test_mutate_opts_out_with_the_given_time_and_origin(own: ActOn) -> None:
    op = {
        "op": "acton_opt_out",
        "email": "late.unsubscriber@example.com",
        "at_ms": 1_700_000_000_000,
        "origin": "Test",
    }
    assert own.sandbox.admin("acton", "POST", "mutate", {"ops": [op]}) == {"applied": 1}
    listed = [r for r in _optouts(own, 1000) if r["email"] == op["email"]]
    assert listed == [{"email": op["email"], "timestamp": op["at_ms"], "origin": "Test"}]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"kind": "body"}, "a body fault needs a body"),
        ({"kind": "mutate"}, "a mutate fault needs ops"),
        ({"kind": "mutate", "ops": [{"op": "acton_opt_in"}, {"op": "nope"}]}, "ops[1]: unknown op 'nope'"),
    ],
)
def test_an_invalid_rule_is_a_400(clean_faults: Sandbox, rule: dict[str, Any], says: str) -> None:
    with pytest.raises(requests.HTTPError) as refused:
        clean_faults.faults("acton", [rule])
    assert refused.value.response.status_code == 400 and says in refused.value.response.json()["error"]
    assert clean_faults.admin("acton", "GET", "faults")["rules"] == []
