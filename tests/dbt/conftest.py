"""The warehouse the dbt tests build on each target (DuckDB, and Postgres on a server the session shares, started
when the first asks for it: never under `-m "not postgres"`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer, postgres_server
from tests.raw_fixtures import WAREHOUSE_TARGETS, Warehouse, built_warehouse


@pytest.fixture(scope="session")
def postgres_warehouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="module", params=WAREHOUSE_TARGETS)
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The module's raw rows (its `load_raw(conn)`) after one `dbt build` observed at its `OBSERVED_AT`, once per
    target: the same assertions hold on both."""
    scratch = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    yield from built_warehouse(request, scratch, request.module.load_raw, request.module.OBSERVED_AT)
