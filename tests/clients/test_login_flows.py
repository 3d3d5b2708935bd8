"""Every Salesforce login flow the pipeline offers runs a whole sync against the sandbox: JWT bearer, client
credentials and refresh token, each with only its own variables set. Which grant logged in is read from the
sandbox's own token table, what the runs wrote from its call stats and records, never from the pipeline's
counters. Under client credentials and refresh tokens no username is given: the sync must still know its own
writes (the token's identity URL names the user), or its second run would take them for people's changes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import pytest
import requests

from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.errors import AuthError
from ingest.clients.salesforce_auth import SalesforceConfig
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox, start
from tests.test_end_to_end import Pipeline, calls, calls_since, fast_acton, writes

SCALE = 60  # enough for duplicates, opt-outs and conversions; three whole syncs stay cheap
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# every variable that selects or feeds a Salesforce login flow; a flow's test sets only its own
CREDENTIALS = (
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_USERNAME",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "SALESFORCE_JWT_KEY_FILE",
    "SALESFORCE_REFRESH_TOKEN",
    "SALESFORCE_JWT_AUDIENCE",
)
FLOWS = {
    JWT_GRANT: ("SALESFORCE_JWT_KEY_FILE", "SALESFORCE_USERNAME"),
    "client_credentials": ("SALESFORCE_CLIENT_SECRET",),
    "refresh_token": ("SALESFORCE_REFRESH_TOKEN", "SALESFORCE_CLIENT_SECRET"),
}


@dataclass
class FlowPipeline(Pipeline):
    """The pipeline with one login flow's variables (and ``overrides``) as its only Salesforce credentials."""

    flow: tuple[str, ...] = ()
    overrides: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {**super().env(), **dict.fromkeys(CREDENTIALS, "")}  # empty is unset, and hides the caller's
        return {**env, **{k: self.sandbox.env[k] for k in self.flow}, **self.overrides}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Sandbox]:
    sb = fast_acton(start(tmp_path / "sandbox", scale=SCALE, seed=13))
    yield sb
    sb.stop()


def sandbox_db(sb: Sandbox, sql: str) -> list[tuple]:
    with sqlite3.connect(sb.data_dir / "sandbox.sqlite") as c:
        return c.execute(sql).fetchall()


def token_request(sb: Sandbox, **form: str) -> requests.Response:
    return requests.post(
        f"{sb.env['SALESFORCE_LOGIN_URL']}/services/oauth2/token",
        data=form,
        verify=sb.env["REQUESTS_CA_BUNDLE"],
        timeout=30,
    )


def grants_issued(sb: Sandbox) -> set[str]:
    """The grants of the access tokens the sandbox issued, as its own token table records them."""
    return {g for (g,) in sandbox_db(sb, "SELECT grant_type FROM sf_tokens WHERE kind = 'access'")}


def integration_user(sb: Sandbox) -> str:
    (value,) = sandbox_db(sb, "SELECT value FROM meta WHERE key = 'api_user_id'")[0]
    return json.loads(value)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("grant", FLOWS, ids=["jwt_bearer", "client_credentials", "refresh_token"])
def test_each_login_flow_runs_a_whole_sync_whose_second_run_writes_nothing(
    world: Sandbox, tmp_path: Path, grant: str
) -> None:
    p = FlowPipeline(world, tmp_path / "home", flow=FLOWS[grant])
    try:
        before = calls(world)
        first = p.run("sync_job")
        assert first.success, first.failures()
        assert grants_issued(world) == {grant}
        wrote = calls_since(world, before)
        assert writes(wrote["salesforce"]) and writes(wrote["acton"]), wrote

        # the records the sync wrote carry the user the token's identity URL names
        scored = p.sf.query_pages(
            "SELECT LastModifiedById FROM Lead WHERE ActOn_Lead_Score__c != null", include_deleted=False
        )
        modifiers = {r["LastModifiedById"] for page in scored for r in page["records"]}
        assert modifiers == {integration_user(world)}

        before = calls(world)
        second = p.run("sync_job")
        assert second.success, second.failures()
        spent = calls_since(world, before)
        assert writes(spent["salesforce"]) == [] and writes(spent["acton"]) == [], spent
        assert grants_issued(world) == {grant}
    finally:
        p.close()


def test_the_identity_url_of_a_token_names_the_integration_user(world: Sandbox) -> None:
    """What the pipeline reads the integration user from, as Salesforce serves it: the token answer's ``id``,
    which answers for the token's own user only."""
    env = world.env
    secret = env["SALESFORCE_CLIENT_SECRET"]
    token = token_request(
        world, grant_type="client_credentials", client_id=env["SALESFORCE_CLIENT_ID"], client_secret=secret
    ).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    identity = requests.get(token["id"], headers=bearer, verify=env["REQUESTS_CA_BUNDLE"], timeout=30)
    assert identity.status_code == 200
    assert identity.json()["user_id"] == integration_user(world)
    assert identity.json()["id"] == token["id"]
    other = token["id"].rsplit("/", 1)[0] + "/005000000000001AAA"
    assert (
        requests.get(other, headers=bearer, verify=env["REQUESTS_CA_BUNDLE"], timeout=30).status_code == 403
    )
    anonymous = requests.get(token["id"], verify=env["REQUESTS_CA_BUNDLE"], timeout=30)
    assert (anonymous.status_code, anonymous.text) == (403, "Bad_OAuth_Token")


def test_a_jwt_with_a_wrong_audience_is_refused_and_the_sync_stops(world: Sandbox, tmp_path: Path) -> None:
    # the sandbox's org is a sandbox (Organization.IsSandbox): production's login URL is not its audience
    wrong = "https://login.salesforce.com"
    env = world.env
    assertion = jwt.encode(
        {
            "iss": env["SALESFORCE_CLIENT_ID"],
            "sub": env["SALESFORCE_USERNAME"],
            "aud": wrong,
            "exp": 4102444800,
        },
        Path(env["SALESFORCE_JWT_KEY_FILE"]).read_text(),
        algorithm="RS256",
    )
    refused = token_request(world, grant_type=JWT_GRANT, assertion=assertion)
    assert refused.status_code == 400
    assert refused.content == b'{"error":"invalid_grant","error_description":"audience is invalid"}'

    p = FlowPipeline(
        world, tmp_path / "home", flow=FLOWS[JWT_GRANT], overrides={"SALESFORCE_JWT_AUDIENCE": wrong}
    )
    try:
        before = calls(world)
        run = p.run("sync_job")
        spent = calls_since(world, before)
    finally:
        p.close()
    assert not run.success
    failures = run.failures()
    assert failures and all(
        "invalid_grant: audience is invalid" in message and "SALESFORCE_JWT_AUDIENCE" in message
        for message in failures.values()
    ), failures
    # nothing past the login: no Salesforce call but the refused token requests, no write anywhere
    assert set(spent["salesforce"]) == {"POST /services/oauth2/token"}, spent
    assert writes(spent["acton"]) == [], spent
    assert grants_issued(world) == set()


def test_a_token_answer_without_an_identity_url_stops_the_login(world: Sandbox, tmp_path: Path) -> None:
    """Without ``id`` the sync could not tell its own writes from people's: the answer is refused, not guessed."""
    world.faults(
        "salesforce",
        [
            {
                "method": "POST",
                "path": "/services/oauth2/token",
                "kind": "body",
                "body": {"access_token": "00Dx!abc", "instance_url": world.env["SALESFORCE_LOGIN_URL"]},
            }
        ],
    )
    env = {**world.env, **dict.fromkeys(CREDENTIALS, ""), "TOKEN_CACHE_PATH": str(tmp_path / "tokens.json")}
    client = SalesforceClient.from_env(
        {**env, "SALESFORCE_CLIENT_SECRET": world.env["SALESFORCE_CLIENT_SECRET"]}
    )
    with pytest.raises(UnexpectedAnswer, match=r"POST oauth2/token .*no 'id'"):
        _ = client.user_id
    client.session.close()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"SALESFORCE_LOGIN_URL": "https://login.salesforce.com", "SALESFORCE_CLIENT_SECRET": "s"},
            "SALESFORCE_LOGIN_URL",
        ),
        ({"SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com"}, "SALESFORCE_CLIENT_SECRET"),
        ({"SALESFORCE_CLIENT_ID": "", "SALESFORCE_CLIENT_SECRET": "s"}, "SALESFORCE_CLIENT_ID"),
        ({"SALESFORCE_API_VERSION": "v59.0", "SALESFORCE_CLIENT_SECRET": "s"}, "SALESFORCE_API_VERSION"),
    ],
    ids=["client_credentials_off_my_domain", "no_flow", "no_client_id", "bad_api_version"],
)
def test_a_login_configuration_that_cannot_work_names_the_variable_to_fix(
    variables: dict[str, str], message: str
) -> None:
    env = {
        "SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com",
        "SALESFORCE_CLIENT_ID": "3MVG9x",
        **variables,
    }
    with pytest.raises(AuthError, match=message):
        _ = SalesforceConfig.from_env(env).cache_key
