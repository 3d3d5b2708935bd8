"""Shared fixtures: real sandboxes over HTTPS, started as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.launcher import Sandbox, start

SCALE = 300


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One small world shared by the session. Tests must not change its data; faults are cleared after each use."""
    sb = start(tmp_path_factory.mktemp("sandbox"), scale=SCALE, seed=7)
    yield sb
    sb.stop()


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
