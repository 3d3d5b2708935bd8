"""A hypothesis property through the real boundary — the sandbox over HTTPS, the extract, the dbt models and the
opt-out write-back, not a re-implementation of any of them: random interleavings of Act-On opt-outs and opt-ins
and Salesforce checks and un-checks by people, each pass of the pipeline under a random answer from Act-On's
opt-out list (pages shorter than asked, a rowless page, a 200 that says failure, an opt-in between two pages),
never end with a record un-checked by the pipeline whose email's latest real consent event is an opt-out.

The latest real event is taken from the systems' own histories: Act-On's consent events as the sandbox stores
them, and the checks the test made as a person in Salesforce (an un-check is never an opt-in event). The world
carries over from one example to the next, as a real org's does; examples are generated, not shrunk (a shrunk
example would replay against a world that moved on).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from common import warehouse
from common.sync_config import load_sync_config
from ingest.clients.acton_client import ActOnClient
from ingest.clients.errors import ApiError
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.acton import ensure_tables, extract_optouts
from ingest.extract.acton import extract_all as extract_acton
from ingest.extract.salesforce import extract_all as extract_salesforce
from ingest.extract.salesforce import extract_object
from sandbox.launcher import Sandbox, start
from tests.raw_fixtures import ROOT, run_dbt
from tests.test_end_to_end import OPTOUT, normalised
from writeback.optouts import sync_optouts

pytestmark = pytest.mark.timeout(900)

PEOPLE = 6
OPTOUT_LIST = "/api/1/list/optout"
MODELS = ("run", "--select", "+salesforce_optout_updates", "+acton_optout_additions")

event = st.tuples(
    st.sampled_from(["acton_opt_out", "acton_opt_in", "sf_tick", "sf_untick"]), st.integers(0, PEOPLE - 1)
)
answer = st.one_of(
    st.just(("plain", 0)),
    st.tuples(st.just("short"), st.integers(1, 4)),
    st.just(("rowless", 0)),
    st.just(("failure", 0)),
    st.tuples(st.just("optin_mid_read"), st.integers(0, PEOPLE - 1)),
)
rounds = st.lists(st.tuples(st.lists(event, max_size=3), answer), min_size=1, max_size=3)


@dataclass
class Org:
    sandbox: Sandbox
    home: Path
    sf: SalesforceClient
    acton: ActOnClient
    people: list[tuple[str, str, str]]  # (email, object, Id): one writable record each
    person_user: str
    checks: dict[str, float] = field(default_factory=dict)  # email -> when a person last checked the box
    passes: int = 0

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    def box(self, i: int) -> bool:
        _, obj, rid = self.people[i]
        (page,) = self.sf.query_pages(f"SELECT {OPTOUT} FROM {obj} WHERE Id = '{rid}'", include_deleted=False)
        return bool(page["records"][0][OPTOUT])

    def act(self, kind: str, i: int) -> None:
        email, obj, rid = self.people[i]
        if kind.startswith("acton"):
            self.sandbox.admin("acton", "POST", "mutate", {"ops": [{"op": kind, "email": email}]})
        else:
            value = kind == "sf_tick"
            # checking a box already checked changes nothing in Salesforce: no event
            changes = self.box(i) != value
            op = {
                "op": "set",
                "object": obj,
                "id": rid,
                "fields": {OPTOUT: value, "LastModifiedById": self.person_user},
            }
            self.sandbox.admin("salesforce", "POST", "mutate", {"ops": [op]})
            if value and changes:
                self.checks[email] = time.time()
        time.sleep(0.01)  # events in distinct milliseconds: "latest" is never a tie

    def latest_is_optout(self, email: str) -> bool:
        with sqlite3.connect(self.sandbox.data_dir / "sandbox.sqlite") as db:
            row = db.execute(
                "SELECT event, ts_ms FROM acton_consent_events WHERE email_norm = ? ORDER BY ts_ms DESC LIMIT 1",
                [email],
            ).fetchone()
        acton = (row[1] / 1000, row[0] == "optout") if row else (float("-inf"), False)
        checked = self.checks.get(email, float("-inf"))
        return checked > acton[0] or acton[1]

    def answer(self, kind: str, arg: int) -> None:
        body = {
            "rowless": {"offset": 0, "count": 0, "totalCount": -1, "result": []},
            "failure": {"status": "failure"},
        }
        if kind in body:
            self.sandbox.faults(
                "acton", [{"method": "GET", "path": OPTOUT_LIST, "kind": "body", "body": body[kind]}]
            )
        elif kind == "short":
            self.sandbox.admin("acton", "POST", "limits", {"acton_page_max": arg})
        elif kind == "optin_mid_read":
            self.sandbox.admin("acton", "POST", "limits", {"acton_page_max": 2})
            op = {"op": "acton_opt_in", "email": self.people[arg][0]}
            rule = {
                "method": "GET",
                "path": OPTOUT_LIST,
                "kind": "mutate",
                "every": 2,
                "times": 1,
                "ops": [op],
            }
            self.sandbox.faults("acton", [rule])

    def calm(self) -> None:
        self.sandbox.clear_faults()
        self.sandbox.admin("acton", "POST", "limits", {"acton_page_max": 1000})

    def run_pass(self) -> None:
        """Extract what the opt-out path reads, build its models, write back. An answer that does not fit stops
        the pass, as it stops the step in a run."""
        self.passes += 1
        config = load_sync_config(self.home / "sync.yaml")
        conn = warehouse.connect(self.warehouse)
        try:
            for obj in ("Lead", "Contact"):
                extract_object(conn, self.sf, obj)
            extract_optouts(conn, self.acton, timedelta(0), run_id=f"pass-{self.passes}")
        except ApiError as e:
            note(f"pass {self.passes} stopped: {e}")
            return
        finally:
            conn.close()
        run_dbt(self.warehouse, *MODELS, integration_user_id=self.sf.user_id)
        with warehouse.connect(self.warehouse) as conn:
            sync_optouts(conn, self.sf, self.acton, config, f"pass-{self.passes}")


def _people(sf: SalesforceClient) -> list[tuple[str, str, str]]:
    seen: dict[str, tuple[str, str, str]] = {}
    counts: dict[str, int] = {}
    for obj, extra in (("Lead", " WHERE IsConverted = false"), ("Contact", "")):
        for page in sf.query_pages(f"SELECT Id, Email FROM {obj}{extra} ORDER BY Id", include_deleted=False):
            for r in page["records"]:
                if email := normalised(r["Email"]):
                    counts[email] = counts.get(email, 0) + 1
                    seen[email] = (email, obj, r["Id"])
    return [seen[e] for e in sorted(seen) if counts[e] == 1][:PEOPLE]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    home = tmp_path_factory.mktemp("consent_property")
    sb = start(home / "sandbox", scale=60, seed=17)
    sb.admin("acton", "POST", "limits", {"acton_rate_per_s": 100.0})
    data = yaml.safe_load((ROOT / "sync.yaml").read_text())
    (home / "sync.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**sb.env, "TOKEN_CACHE_PATH": str(home / "tokens.json")}
    sf, acton = SalesforceClient.from_env(env), ActOnClient.from_env(env)
    (users,) = sf.query_pages("SELECT Id, Username FROM User ORDER BY Id", include_deleted=False)
    person_user = next(u["Id"] for u in users["records"] if u["Username"] != sb.env["SALESFORCE_USERNAME"])
    org = Org(sb, home, sf, acton, _people(sf), person_user)
    with warehouse.connect(org.warehouse) as conn:
        ensure_tables(conn)
        extract_salesforce(conn, sf)
        extract_acton(conn, acton)
    run_dbt(org.warehouse, *MODELS, integration_user_id=sf.user_id)
    yield org
    sf.session.close()
    acton.session.close()
    sb.stop()


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=rounds)
def test_no_interleaving_unchecks_a_person_whose_latest_event_is_an_optout(
    org: Org, steps: list[tuple[list[tuple[str, int]], tuple[str, Any]]]
) -> None:
    for events, (kind, arg) in steps:
        for what, who in events:
            org.act(what, who)
        before = [org.box(i) for i in range(PEOPLE)]
        org.answer(kind, arg)
        try:
            org.run_pass()
        finally:
            org.calm()
        for i, was in enumerate(before):
            email = org.people[i][0]
            if was and not org.box(i):
                assert not org.latest_is_optout(email), f"{email} un-checked; latest real event is an opt-out"
