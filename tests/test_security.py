"""Security: after a full sync (and a failing one) no secret is anywhere it could leak from — the process
output, the Dagster instance (event log, materialisation metadata, compute logs), dbt's run folders, exception
texts, the warehouse. TLS is verified against the sandbox's CA only, and the sandboxes refuse bad, expired and
revoked tokens and admin calls without the admin token."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests
import trustme

from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from tests.reliability.harness import REPO, Baseline, World, baseline

SECRET_ENV = (
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "ACTON_CLIENT_SECRET",
    "ACTON_PASSWORD",
    "SANDBOX_ADMIN_TOKEN",
)
TOKEN_FIELDS = ("access_token", "refresh_token")
SF_API = "/services/data/v59.0/sobjects"
# A sync is slow on a loaded machine, and the first test to ask for the shared baseline pays for two.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    synced = baseline(tmp_path_factory)
    yield synced
    synced.world.sandbox.stop()


@pytest.fixture(scope="session")
def failing_run(synced: Baseline) -> Iterator[World]:
    """A run that fails in the middle of its extract, with live tokens in hand: Salesforce refuses queries for
    the daily limit and Act-On refuses reads; the exception texts land in the output and the event log."""
    world = synced.world
    world.sandbox.faults(
        "salesforce", [{"method": "GET", "path": "/services/data/*/query*", "kind": "status", "status": 403}]
    )
    world.sandbox.faults(
        "acton", [{"method": "GET", "path": "/api/1/message*", "kind": "status", "status": 403}]
    )
    try:
        run = world.sync()
    finally:
        world.sandbox.clear_faults()
    assert run.success is False, "the faults should have failed the run"
    assert "REQUEST_LIMIT_EXCEEDED" in run.output and "/api/1/message" in run.output
    yield world


def secrets(world: World) -> dict[str, str]:
    """Every credential of the world: the sandbox's, and the tokens the sync left in its token cache."""
    found = {name: world.sandbox.env[name] for name in SECRET_ENV if world.sandbox.env.get(name)}
    cache = json.loads(Path(world.env["TOKEN_CACHE_PATH"]).read_text())
    for key, entry in cache.items():
        found.update({f"{key}.{f}": entry[f] for f in TOKEN_FIELDS if entry.get(f)})
    assert {"SALESFORCE_CLIENT_SECRET", "ACTON_PASSWORD"} <= found.keys()
    assert sum(name.endswith("access_token") for name in found) == 2, "both systems' tokens are cached"
    too_short = [name for name, value in found.items() if len(value) < 8]
    assert not too_short, f"secrets too short to search for reliably: {too_short}"
    return found


def leaks(text: str | bytes, found: dict[str, str]) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in found.items() if value.encode() in data]


def test_no_secret_in_the_process_output(synced: Baseline, failing_run: World) -> None:
    found = secrets(failing_run)
    for run in failing_run.runs:
        assert run.output, "the sync wrote no output at all"
        assert not leaks(run.output, found)


def test_no_secret_in_the_dagster_event_log_or_metadata(synced: Baseline, failing_run: World) -> None:
    found = secrets(failing_run)
    home = Path(failing_run.env["DAGSTER_HOME"])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert {r.run_id for r in runs} >= {run.run_id for run in failing_run.runs}
        for run in runs:
            entries = instance.all_logs(run.run_id)
            materialised = [e for e in entries if e.asset_materialization is not None]
            assert entries and (materialised or run.is_failure)
            for entry in entries:
                assert not leaks(dg.serialize_value(entry), found), entry.dagster_event_type
    # and every byte the instance keeps: run and event databases, compute logs
    for path in home.rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes(), found), path


def test_no_secret_in_dbt_run_folders(synced: Baseline, failing_run: World) -> None:
    found = secrets(failing_run)
    folders = [
        p
        for run in failing_run.runs
        if run.run_id
        for p in (REPO / "dbt_project" / "target").glob(f"*-{run.run_id[:7]}-*")
    ]
    assert folders, "the sync ran dbt in a run folder of its own"
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert not leaks(path.read_bytes(), found), path


def test_no_secret_in_the_warehouse(synced: Baseline, failing_run: World) -> None:
    found = secrets(failing_run)
    conn = duckdb.connect(str(failing_run.warehouse), read_only=True)
    try:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema NOT IN ('information_schema', 'pg_catalog')"
        ).fetchall()
        assert len(columns) > 50
        for schema, table, column in columns:
            for name, value in found.items():
                (hits,) = conn.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains(CAST("{column}" AS VARCHAR), ?)',
                    [value],
                ).fetchone()
                assert hits == 0, f"{name} in {schema}.{table}.{column}"
    finally:
        conn.close()


def test_token_cache_is_private(synced: Baseline) -> None:
    path = Path(synced.world.env["TOKEN_CACHE_PATH"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- TLS --------------------------------------------------------------------------------------------------------
def test_tls_verification_is_always_on(synced: Baseline, tmp_path: Path) -> None:
    """A client trusting another CA (or the system CAs) refuses the sandbox; nothing in ingest turns it off."""
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    env = {**synced.world.env, "TOKEN_CACHE_PATH": str(tmp_path / "tokens.json")}
    for bundle in (str(other_ca), ""):
        wrong = {**env, "REQUESTS_CA_BUNDLE": bundle}
        with pytest.raises(requests.exceptions.SSLError):
            SalesforceClient.from_env(wrong).describe("Lead")
        with pytest.raises(requests.exceptions.SSLError):
            ActOnClient.from_env(wrong).json("GET", "/api/1/account")
    sources = [p.read_text() for p in (REPO / "ingest").glob("*.py")]
    assert not any("verify=False" in s or "CERT_NONE" in s for s in sources)


# -- the sandboxes' own checks ------------------------------------------------------------------------------------
def _get(world: World, url: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(url, headers=headers, verify=world.env["REQUESTS_CA_BUNDLE"], timeout=30)


def test_admin_api_requires_the_admin_token(synced: Baseline) -> None:
    world = synced.world
    for system, url_var in (("salesforce", "SALESFORCE_SANDBOX_URL"), ("acton", "ACTON_SANDBOX_URL")):
        base = world.env[url_var]
        for token in (None, "", "sbx_wrong", world.env["SALESFORCE_CLIENT_SECRET"]):
            assert _get(world, f"{base}/stats", token).status_code == 401, (system, token)
            refused = requests.post(
                f"{base}/faults",
                json={"rules": [{"kind": "status", "status": 500}]},
                headers={"Authorization": f"Bearer {token}"},
                verify=world.env["REQUESTS_CA_BUNDLE"],
                timeout=30,
            )
            assert refused.status_code == 401
        assert _get(world, f"{base}/stats", world.env["SANDBOX_ADMIN_TOKEN"]).status_code == 200
        assert world.sandbox.admin(system, "GET", "faults")["rules"] == []


def _password_grant(world: World, url: str, system: str, password_suffix: str = "") -> dict[str, str]:
    """The token answer to a password grant with ``system``'s credentials (the variables SYSTEM_CLIENT_ID,
    _CLIENT_SECRET, _USERNAME and _PASSWORD, which both sandboxes name alike)."""
    env = world.env
    r = requests.post(
        url,
        data={
            "grant_type": "password",
            "client_id": env[f"{system}_CLIENT_ID"],
            "client_secret": env[f"{system}_CLIENT_SECRET"],
            "username": env[f"{system}_USERNAME"],
            "password": env[f"{system}_PASSWORD"] + password_suffix,
        },
        verify=env["REQUESTS_CA_BUNDLE"],
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


def _salesforce_token(world: World) -> str:
    url = f"{world.env['SALESFORCE_LOGIN_URL']}/services/oauth2/token"
    security_token = world.env.get("SALESFORCE_SECURITY_TOKEN", "")
    return _password_grant(world, url, "SALESFORCE", security_token)["access_token"]


def _acton_password_grant(world: World) -> dict[str, str]:
    return _password_grant(world, f"{world.env['ACTON_BASE_URL']}/token", "ACTON")


def test_salesforce_refuses_bad_expired_and_revoked_tokens(synced: Baseline) -> None:
    world = synced.world
    api = f"{world.env['SALESFORCE_LOGIN_URL']}{SF_API}"
    token = _salesforce_token(world)
    assert _get(world, api, token).status_code == 200
    for bad in (None, "", "00D000000000000!garbage", token + "x"):
        refused = _get(world, api, bad)
        assert refused.status_code == 401 and refused.json()[0]["errorCode"] == "INVALID_SESSION_ID"

    revoke = requests.post(
        f"{world.env['SALESFORCE_LOGIN_URL']}/services/oauth2/revoke",
        data={"token": token},
        verify=world.env["REQUESTS_CA_BUNDLE"],
        timeout=30,
    )
    assert revoke.status_code == 200
    assert _get(world, api, token).status_code == 401

    limits = world.sandbox.admin("salesforce", "GET", "limits")
    world.sandbox.admin("salesforce", "POST", "limits", {"salesforce_token_lifetime_s": 3})
    try:
        short_lived = _salesforce_token(world)
        assert _get(world, api, short_lived).status_code == 200
        time.sleep(3.5)
        assert _get(world, api, short_lived).status_code == 401
    finally:
        world.sandbox.admin("salesforce", "POST", "limits", limits)


def test_acton_refuses_bad_expired_and_revoked_tokens(synced: Baseline) -> None:
    """One password grant (Act-On allows five an hour): its access token expires after three seconds, its refresh
    token works once, and an expire_session revokes every access token."""
    world = synced.world
    api = f"{world.env['ACTON_BASE_URL']}/api/1/account"
    for bad in (None, "", "garbage-token-value"):
        assert _get(world, api, bad).status_code == 401

    limits = world.sandbox.admin("acton", "GET", "limits")
    world.sandbox.admin("acton", "POST", "limits", {"acton_token_lifetime_s": 3})
    try:
        granted = _acton_password_grant(world)
        assert _get(world, api, granted["access_token"]).status_code == 200
        time.sleep(3.5)
        assert _get(world, api, granted["access_token"]).status_code == 401
    finally:
        world.sandbox.admin("acton", "POST", "limits", limits)

    def refresh(token: str) -> requests.Response:
        return requests.post(
            f"{world.env['ACTON_BASE_URL']}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": world.env["ACTON_CLIENT_ID"],
                "client_secret": world.env["ACTON_CLIENT_SECRET"],
            },
            verify=world.env["REQUESTS_CA_BUNDLE"],
            timeout=30,
        )

    renewed = refresh(granted["refresh_token"])
    assert renewed.status_code == 200
    assert refresh(granted["refresh_token"]).status_code != 200, "a refresh token is single-use"
    access = renewed.json()["access_token"]
    assert _get(world, api, access).status_code == 200
    world.sandbox.faults("acton", [{"kind": "expire_session", "times": 1}])
    try:
        _get(world, api, access)  # the call that fires the revocation
        assert _get(world, api, access).status_code == 401
    finally:
        world.sandbox.clear_faults()
