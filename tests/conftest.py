"""Shared fixtures: real sandboxes over HTTPS, started as subprocesses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from common import warehouse
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox, start
from tests.demo_world import Demo, shared_demo
from tests.postgres_server import PostgresServer, postgres_server
from tests.writeback_support import empty_sync_tables, env

SCALE = 300


def wait_for_midnight(now: datetime, timeout: float) -> float:
    """Seconds a test starting at ``now`` waits: past 00:00 UTC when that is within half its timeout, else 0."""
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    left = (midnight - now).total_seconds()
    return left + 1 if left < timeout / 2 else 0.0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests assume their UTC day does not end under them: the sandboxes' daily API counters, the pipeline's
    call log and the dbt skip's input fingerprint all start afresh at 00:00 UTC. A test that would start within
    half its timeout of midnight waits for it instead, before any of its fixtures is set up (a shared world's
    sync included). The wait counts towards the timeout, hence half."""
    marker = item.get_closest_marker("timeout")
    timeout = float(marker.args[0] if marker else item.config.getini("timeout"))
    time.sleep(wait_for_midnight(datetime.now(UTC), timeout))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One small world shared by the session. Tests must not change its data; faults are cleared after each use."""
    sb = start(tmp_path_factory.mktemp("sandbox"), scale=SCALE, seed=7)
    yield sb
    sb.stop()


@pytest.fixture(scope="session")
def postgres_warehouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """The Postgres server of the tests on the `postgres` warehouse target, a database each (raw_fixtures.Warehouse);
    started when the first asks for it, so never under `-m "not postgres"`."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def clean_faults(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox, with its fault rules cleared after the test."""
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def fresh_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox of the test's own, for tests that change the world (simulate, mutate, writes)."""
    sb = start(tmp_path / "sandbox", scale=SCALE, seed=11)
    yield sb
    sb.stop()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Demo:
    """`make demo` run once for the whole session, even across xdist workers (see tests/demo_world.py)."""
    if worker_id == "master":
        return shared_demo(tmp_path_factory.mktemp("shared"))
    return shared_demo(tmp_path_factory.getbasetemp().parent)


# -- the write-back tests' fixtures (a module may define its own of the same name instead) ------------------------
@pytest.fixture
def wh(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A warehouse of the test's own with every sync.* input table created empty."""
    conn = warehouse.connect(tmp_path / "warehouse.duckdb")
    empty_sync_tables(conn)
    yield conn
    conn.close()


# Clients close their keep-alive connections before the sandbox stops, or its graceful shutdown waits on them.
@pytest.fixture
def sf(fresh_sandbox: Sandbox, tmp_path: Path) -> Iterator[SalesforceClient]:
    client = SalesforceClient.from_env(env(fresh_sandbox, tmp_path))
    yield client
    client.session.close()


@pytest.fixture
def acton(fresh_sandbox: Sandbox, tmp_path: Path) -> Iterator[ActOnClient]:
    client = ActOnClient.from_env(env(fresh_sandbox, tmp_path))
    yield client
    client.session.close()


@pytest.fixture
def clients(sf: SalesforceClient, acton: ActOnClient) -> tuple[SalesforceClient, ActOnClient]:
    """Both clients against the test's own sandbox."""
    return sf, acton
