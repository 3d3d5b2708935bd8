"""The warehouse the dbt tests build on each target (DuckDB, and Postgres on the server the session shares)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.raw_fixtures import WAREHOUSE_TARGETS, Warehouse, built_warehouse


@pytest.fixture(scope="module", params=WAREHOUSE_TARGETS)
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The module's raw rows (its `load_raw(conn)`) after one `dbt build` observed at its `OBSERVED_AT`, once per
    target: the same assertions hold on both."""
    scratch = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    yield from built_warehouse(request, scratch, request.module.load_raw, request.module.OBSERVED_AT)
