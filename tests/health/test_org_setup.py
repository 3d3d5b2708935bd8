"""`make setup-org` against a bare org: a sandbox whose Lead and Contact lack the sync's custom fields and whose
consent and bounce fields the integration user may not edit until a permission set grants it.

The oracle is the org itself, read over plain HTTP apart from the code under test: the Tooling API's CustomField
rows and the permission objects as the administrator sees them, the integration user's own describe, and a write
the integration user makes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from common.sync_config import load_sync_config
from health import Status
from health.org_setup import PERMISSION_SET, main
from health.preflight import PreflightError, preflight
from health.schema_contract import check_schema_contract
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox, read_env, start
from sandbox.server import ADMIN_ENV

PERSON = ("Lead", "Contact")
CUSTOM = {
    "ActOn_Lead_Score__c": "double",
    "ActOn_High_Intent__c": "boolean",
    "ActOn_Last_Engagement__c": "datetime",
}
CONSENT = ("HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate")
WRITES = ("POST", "PATCH", "PUT", "DELETE")
COMPOSITE = "POST /services/data/vXX.X/composite"  # the client's describes, read in one call


class Org:
    """Plain HTTP to the sandbox as one user (password grant), independent of the pipeline's client."""

    def __init__(self, env: dict[str, str], username: str, password: str):
        self.verify = env["REQUESTS_CA_BUNDLE"]
        r = requests.post(
            f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": env["SALESFORCE_CLIENT_ID"],
                "client_secret": env["SALESFORCE_CLIENT_SECRET"],
                "username": username,
                "password": password,
            },
            verify=self.verify,
            timeout=30,
        )
        r.raise_for_status()
        self.base = f"{r.json()['instance_url']}/services/data/v59.0"
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.base}/{path}", headers=self.headers, verify=self.verify, timeout=30, **kwargs
        )

    def records(self, soql: str, tooling: bool = False) -> list[dict[str, Any]]:
        r = self.call("GET", "tooling/query" if tooling else "query", params={"q": soql})
        r.raise_for_status()
        return r.json()["records"]

    def fields(self, obj: str) -> dict[str, dict[str, Any]]:
        r = self.call("GET", f"sobjects/{obj}/describe")
        r.raise_for_status()
        return {f["name"]: f for f in r.json()["fields"]}


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = start(tmp_path_factory.mktemp("bare_org"), scale=200, seed=5, bare_org=True)
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def env(bare: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The pipeline's environment plus the administrator's login, as an operator would set both."""
    cache = tmp_path_factory.mktemp("tokens") / "tokens.json"
    return {**bare.env, **read_env(bare.data_dir / ADMIN_ENV), "TOKEN_CACHE_PATH": str(cache)}


@pytest.fixture(scope="module")
def admin(env: dict[str, str]) -> Org:
    return Org(env, env["SALESFORCE_ADMIN_USERNAME"], env["SALESFORCE_ADMIN_PASSWORD"])


@pytest.fixture(scope="module")
def integration(env: dict[str, str]) -> Org:
    return Org(env, env["SALESFORCE_USERNAME"], env["SALESFORCE_PASSWORD"] + env["SALESFORCE_SECURITY_TOKEN"])


def _pipeline_client(env: dict[str, str]) -> SalesforceClient:
    return SalesforceClient.from_env(env)


def _setup(env: dict[str, str], capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args), env=env)
    out = capsys.readouterr()
    assert env["SALESFORCE_ADMIN_PASSWORD"] not in out.out + out.err
    return code, out.out + out.err


def _writes(bare: Sandbox) -> int:
    calls = bare.stats("salesforce")["by_endpoint"]
    return sum(
        n
        for key, n in calls.items()
        if key.split()[0] in WRITES and "/oauth2/" not in key and key != COMPOSITE
    )


def _lead_id(org: Org) -> str:
    return org.records("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")[0]["Id"]


# -- the sandbox's setup API, as Salesforce answers it ---------------------------------------------------------
def test_the_integration_user_may_not_change_the_setup(integration: Org, admin: Org) -> None:
    field = {"FullName": "Lead.Other__c", "Metadata": {"type": "DateTime", "label": "Other"}}
    r = integration.call("POST", "tooling/sobjects/CustomField", json=field)
    assert r.status_code == 403 and r.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS"
    r = integration.call("POST", "sobjects/PermissionSet", json={"Name": "Mine", "Label": "Mine"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert "Other__c" not in admin.fields("Lead")


def test_a_bare_org_refuses_the_integration_users_consent_write(integration: Org) -> None:
    assert "HasOptedOutOfEmail" not in integration.fields("Lead")  # no read access: not in their describe
    r = integration.call("PATCH", f"sobjects/Lead/{_lead_id(integration)}", json={"HasOptedOutOfEmail": True})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"


def test_preflight_and_doctor_name_the_command_before_setup(env: dict[str, str]) -> None:
    client = _pipeline_client(env)
    with pytest.raises(PreflightError) as raised:
        preflight(client, load_sync_config(), "sync.yaml")
    message = str(raised.value)
    assert "Lead.ActOn_Lead_Score__c does not exist" in message
    assert "Contact.HasOptedOutOfEmail does not exist" in message
    assert "run `make setup-org`" in message
    result = check_schema_contract(_pipeline_client(env), load_sync_config(), "sync.yaml")  # as `make doctor`
    assert result.status is Status.FAIL
    assert "Lead.ActOn_Lead_Score__c does not exist; fix: create a number(6,0) field" in result.summary
    assert "(run `make setup-org`)" in result.summary
    assert "`make setup-org`" in result.remediation


def test_without_admin_credentials_it_says_which_to_set(
    env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    lacking = {k: v for k, v in env.items() if not k.startswith("SALESFORCE_ADMIN_")}
    assert main([], env=lacking) == 1
    assert "SALESFORCE_ADMIN_USERNAME" in capsys.readouterr().err


def test_a_wrong_admin_password_is_refused(env: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    assert main([], env={**env, "SALESFORCE_ADMIN_PASSWORD": "not-it"}) == 1
    err = capsys.readouterr().err
    assert "invalid_grant" in err and "not-it" not in err


# -- dry run, apply, apply again ----------------------------------------------------------------------------------
def test_dry_run_lists_the_six_fields_and_the_permission_set_and_writes_nothing(
    env: dict[str, str], bare: Sandbox, admin: Org, capsys: pytest.CaptureFixture
) -> None:
    writes = _writes(bare)
    code, out = _setup(env, capsys)
    assert code == 0
    created = {line.split()[-4] for line in out.splitlines() if "(Tooling API CustomField)" in line}
    assert created == {f"{o}.{f}" for o in PERSON for f in CUSTOM}
    assert f"create the permission set {PERMISSION_SET}" in out
    assert f"grant {PERMISSION_SET} read and edit on Lead.HasOptedOutOfEmail" in out
    assert f"assign {PERMISSION_SET} to the integration user {env['SALESFORCE_USERNAME']}" in out
    assert "Lead.LastName: not permissionable" in out  # skipped, never asked for
    reads = next(line for line in out.splitlines() if f"grant {PERMISSION_SET} read on Lead:" in line)
    assert "Title" in reads and "ConvertedContactId" in reads  # what the models select, beyond sync.yaml
    assert _writes(bare) == writes
    assert not admin.records(
        "SELECT Id FROM CustomField WHERE TableEnumOrId IN ('Lead', 'Contact')", tooling=True
    )
    assert not admin.records(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")


def test_apply_creates_the_fields_and_grants_the_integration_user(
    env: dict[str, str], admin: Org, integration: Org, capsys: pytest.CaptureFixture
) -> None:
    code, out = _setup(env, capsys, "--apply")
    assert code == 0, out
    rows = admin.records("SELECT DeveloperName, TableEnumOrId FROM CustomField", tooling=True)
    assert {(r["TableEnumOrId"], r["DeveloperName"] + "__c") for r in rows} == {
        (o, f) for o in PERSON for f in CUSTOM
    }
    for obj in PERSON:
        seen = integration.fields(obj)
        for name, kind in CUSTOM.items():
            assert seen[name]["type"] == kind and seen[name]["updateable"] is True, (obj, name)
        for name in CONSENT:
            assert seen[name]["updateable"] is True, (obj, name)
    assert seen["ActOn_Lead_Score__c"]["precision"] == 6 and seen["ActOn_Lead_Score__c"]["scale"] == 0
    (pset,) = admin.records(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")
    user = admin.records(f"SELECT Id FROM User WHERE Username = '{env['SALESFORCE_USERNAME']}'")[0]["Id"]
    assigned = admin.records(
        f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = '{pset['Id']}' AND AssigneeId = '{user}'"
    )
    assert len(assigned) == 1
    grants = {
        r["Field"]: r["PermissionsEdit"]
        for r in admin.records(
            f"SELECT Field, PermissionsEdit FROM FieldPermissions WHERE ParentId = '{pset['Id']}'"
        )
    }
    assert grants["Lead.ActOn_Lead_Score__c"] is True and grants["Contact.EmailBouncedDate"] is True
    assert grants["Opportunity.Amount"] is False  # read: the report mapping
    assert "Lead.LastName" not in grants
    # the integration user now writes what the sync writes, and reads it back
    lead = _lead_id(integration)
    r = integration.call(
        "PATCH", f"sobjects/Lead/{lead}", json={"ActOn_Lead_Score__c": 42, "HasOptedOutOfEmail": True}
    )
    assert r.status_code == 204, r.text
    (row,) = integration.records(
        f"SELECT ActOn_Lead_Score__c, HasOptedOutOfEmail FROM Lead WHERE Id = '{lead}'"
    )
    assert (row["ActOn_Lead_Score__c"], row["HasOptedOutOfEmail"]) == (42, True)


def test_a_second_apply_changes_nothing(
    env: dict[str, str], bare: Sandbox, capsys: pytest.CaptureFixture
) -> None:
    writes = _writes(bare)
    code, out = _setup(env, capsys, "--apply")
    assert code == 0 and "nothing to do" in out
    assert _writes(bare) == writes


def test_the_command_line_run_after_setup_finds_nothing_to_do(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "health.org_setup"],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing to do" in done.stdout
    assert env["SALESFORCE_ADMIN_PASSWORD"] not in done.stdout + done.stderr


def test_a_grant_taken_back_to_read_only_is_given_edit_again(
    env: dict[str, str], admin: Org, integration: Org, capsys: pytest.CaptureFixture
) -> None:
    (grant,) = admin.records(
        "SELECT Id FROM FieldPermissions WHERE Field = 'Lead.EmailBouncedDate' "
        f"AND Parent.Name = '{PERMISSION_SET}'"
    )
    r = admin.call("PATCH", f"sobjects/FieldPermissions/{grant['Id']}", json={"PermissionsEdit": False})
    assert r.status_code == 204, r.text
    assert integration.fields("Lead")["EmailBouncedDate"]["updateable"] is False  # read, not edit
    code, out = _setup(env, capsys, "--apply")
    assert code == 0 and "granted edit on Lead.EmailBouncedDate" in out
    assert integration.fields("Lead")["EmailBouncedDate"]["updateable"] is True


def test_the_sync_preflight_passes_after_setup(env: dict[str, str]) -> None:
    preflight(_pipeline_client(env), load_sync_config(), "sync.yaml")
    assert check_schema_contract(_pipeline_client(env), load_sync_config(), "sync.yaml").status is Status.PASS


def test_the_admin_login_never_reaches_the_token_cache(env: dict[str, str]) -> None:
    cache = Path(env["TOKEN_CACHE_PATH"]).read_text()
    assert env["SALESFORCE_ADMIN_USERNAME"] not in cache


# -- what the sandbox refuses, as Salesforce does -----------------------------------------------------------------
def test_the_sandbox_refuses_what_salesforce_refuses(admin: Org) -> None:
    again = {
        "FullName": "Lead.ActOn_Lead_Score__c",
        "Metadata": {"type": "Number", "label": "X", "precision": 6},
    }
    r = admin.call("POST", "tooling/sobjects/CustomField", json=again)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    (pset,) = admin.records(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")
    required = {
        "ParentId": pset["Id"],
        "SobjectType": "Lead",
        "Field": "Lead.LastName",
        "PermissionsRead": True,
    }
    r = admin.call("POST", "sobjects/FieldPermissions", json=required)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    r = admin.call("POST", "sobjects/PermissionSet", json={"Name": PERMISSION_SET, "Label": "Again"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"


def test_a_field_of_another_type_stops_the_setup_naming_the_key(
    bare: Sandbox,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    config = yaml.safe_load(Path("sync.yaml").read_text())
    config["scores"]["salesforce_field"] = "Score_Text__c"
    for lst in config["lists"]:  # a list's Lead Score column carries the same field
        lst["fields"]["Lead Score"] = "Score_Text__c"
    (tmp_path / "sync.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("SYNC_CONFIG", str(tmp_path / "sync.yaml"))
    field = {"op": "add_field", "object": "Lead", "field": "Score_Text__c", "type": "string", "length": 20}
    bare.admin("salesforce", "POST", "mutate", {"ops": [field]})
    writes = _writes(bare)
    code, out = _setup(env, capsys, "--apply")
    assert code == 1
    assert "Lead.Score_Text__c exists as a string field" in out and "scores.salesforce_field" in out
    assert _writes(bare) == writes  # nothing created, on Contact either
