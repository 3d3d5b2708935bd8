"""The shared sandbox plumbing over real HTTPS: call stats, every transport fault kind, admin auth, limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.admin.control import Control
from sandbox.server import listening_socket, write_tls
from sandbox.store import Store


def _echo(request: Request) -> Response:
    return JSONResponse({"path": request.url.path, "padding": "x" * 5000})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Control]]:
    store = Store(tmp_path / "sandbox.sqlite")
    control = Control(store, tmp_path)
    expired: list[bool] = []
    control.register_expirer("salesforce", lambda: expired.append(True))
    app = Starlette(
        routes=[
            Route("/services/data/v{version}/query", _echo),
            Route("/services/oauth2/token", _echo, methods=["POST"]),
        ]
    )
    _, cert, key = write_tls(tmp_path)
    sock = listening_socket()
    server = uvicorn.Server(
        uvicorn.Config(
            control.middleware("salesforce", app, control.admin_app("salesforce")),
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level="critical",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    control.expired = expired  # type: ignore[attr-defined]
    yield f"https://127.0.0.1:{sock.getsockname()[1]}", control
    server.should_exit = True
    thread.join(5)


def _admin(base: str, control: Control, method: str, path: str, json: object = None) -> requests.Response:
    return requests.request(
        method,
        f"{base}/__sandbox/{path}",
        json=json,
        headers={"Authorization": f"Bearer {control.admin_token}"},
        verify=str(control.data_dir / "ca.pem"),
        timeout=10,
    )


def test_stats_count_api_calls_by_route_template_not_admin_calls(served: tuple[str, Control]) -> None:
    base, control = served
    ca = str(control.data_dir / "ca.pem")
    for version in ("59.0", "60.0"):
        assert (
            requests.get(f"{base}/services/data/v{version}/query", verify=ca, timeout=10).status_code == 200
        )
    requests.post(f"{base}/services/oauth2/token", verify=ca, timeout=10)
    stats = _admin(base, control, "GET", "stats").json()
    assert stats == {
        "calls": {
            "total": 3,
            "by_endpoint": {"GET /services/data/vXX.X/query": 2, "POST /services/oauth2/token": 1},
        }
    }
    # authentication is not API usage
    assert control.calls_today("salesforce") == 2


def test_admin_api_requires_the_admin_token(served: tuple[str, Control]) -> None:
    base, control = served
    r = requests.get(f"{base}/__sandbox/stats", verify=str(control.data_dir / "ca.pem"), timeout=10)
    assert r.status_code == 401


def test_status_fault_every_nth_call_with_real_error_body(served: tuple[str, Control]) -> None:
    base, control = served
    rule = {
        "method": "GET",
        "path": "/services/data/*/query*",
        "kind": "status",
        "status": 403,
        "every": 2,
        "times": 1,
    }
    assert _admin(base, control, "POST", "faults", {"rules": [rule]}).status_code == 200
    ca = str(control.data_dir / "ca.pem")
    codes = [requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 403, 200, 200]
    assert codes[1].json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_reset_fault_drops_the_connection_mid_body(served: tuple[str, Control]) -> None:
    base, control = served
    _admin(base, control, "POST", "faults", {"rules": [{"path": "/services/*", "kind": "reset", "times": 1}]})
    ca = str(control.data_dir / "ca.pem")
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10)
    assert requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10).status_code == 200


def test_delay_and_expire_session_faults(served: tuple[str, Control]) -> None:
    base, control = served
    rules = [
        {"path": "/services/*", "kind": "delay", "seconds": 0.3, "times": 1},
        {"path": "/services/*", "kind": "expire_session", "times": 1},
    ]
    _admin(base, control, "POST", "faults", {"rules": rules})
    start = time.monotonic()
    requests.get(f"{base}/services/data/v59.0/query", verify=str(control.data_dir / "ca.pem"), timeout=10)
    assert time.monotonic() - start >= 0.3
    assert control.expired == [True]  # type: ignore[attr-defined]
    listed = _admin(base, control, "GET", "faults").json()["rules"]
    assert [r["fired"] for r in listed] == [1, 1]
    assert _admin(base, control, "DELETE", "faults").json() == {"rules": []}


def test_row_errors_are_seeded_and_repeatable(tmp_path: Path) -> None:
    from sandbox.admin.control import FaultRule, _ArmedRule

    def pick() -> dict[int, str]:
        control = Control(Store(tmp_path / f"{time.monotonic_ns()}.sqlite"), tmp_path)
        rule = FaultRule(kind="row_error", path="*", error="UNABLE_TO_LOCK_ROW", fraction=0.3, seed=5)
        control._rules["salesforce"].append(_ArmedRule(rule))
        return control.row_errors("salesforce", "PATCH", "/services/data/v59.0/composite/sobjects", 50)

    first = pick()
    assert first == pick()
    assert 5 < len(first) < 30 and set(first.values()) == {"UNABLE_TO_LOCK_ROW"}


def test_limits_are_settable_and_validated(served: tuple[str, Control]) -> None:
    base, control = served
    r = _admin(base, control, "POST", "limits", {"salesforce_daily_api_max": 10})
    assert r.json()["salesforce_daily_api_max"] == 10 and control.limits.salesforce_daily_api_max == 10
    assert _admin(base, control, "POST", "limits", {"no_such_limit": 1}).status_code == 400


def test_body_fault_sends_text_as_it_is_under_its_type_and_status(served: tuple[str, Control]) -> None:
    base, control = served
    page = "<html><body>502 Bad Gateway</body></html>"
    rule = {"path": "/services/*", "kind": "body", "status": 502, "content_type": "text/html", "body": page}
    _admin(base, control, "POST", "faults", {"rules": [{**rule, "times": 1}]})
    ca = str(control.data_dir / "ca.pem")
    faulted = requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10)
    assert (faulted.status_code, faulted.headers["content-type"], faulted.text) == (
        502,
        "text/html; charset=utf-8",
        page,
    )
    assert requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10).json()["path"]


def test_a_mutate_fault_that_no_longer_applies_says_why(served: tuple[str, Control]) -> None:
    base, control = served
    ops = [{"op": "set", "object": "Lead", "id": "00Q000000000001AAA", "fields": {"Email": "a@example.com"}}]
    rule = {"path": "/services/*", "kind": "mutate", "times": 1, "ops": ops}
    _admin(base, control, "POST", "faults", {"rules": [rule]})
    ca = str(control.data_dir / "ca.pem")
    failed = requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10)
    assert failed.status_code == 500 and "sandbox mutate fault: ops[0]: no Lead" in failed.json()["error"]
    assert requests.get(f"{base}/services/data/v59.0/query", verify=ca, timeout=10).status_code == 200


def test_mutate_names_an_unknown_op_and_page_max_is_at_least_one(served: tuple[str, Control]) -> None:
    base, control = served
    r = _admin(base, control, "POST", "mutate", {"ops": [{"op": "set", "object": "Lead"}, {"op": "nope"}]})
    assert r.status_code == 400 and r.json()["error"].startswith("ops[1]: unknown op 'nope'")
    assert _admin(base, control, "POST", "limits", {"acton_page_max": 0}).status_code == 400
    assert _admin(base, control, "POST", "limits", {"acton_page_max": 7}).json()["acton_page_max"] == 7


def test_a_mutate_op_missing_its_argument_is_refused_not_a_no_op(served: tuple[str, Control]) -> None:
    base, control = served
    r = _admin(base, control, "POST", "mutate", {"ops": [{"op": "hard_delete", "object": "Lead"}]})
    assert r.status_code == 400 and r.json()["error"].startswith("ops[0]: hard_delete needs 'ids'")
