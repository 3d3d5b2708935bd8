"""Fixtures of the reliability suite: the session's fault-free baseline, and a fresh world of the same seed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import Baseline, World, baseline, start_world


@pytest.fixture(scope="session")
def fault_free(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    synced = baseline(tmp_path_factory)
    yield synced
    synced.world.sandbox.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A world identical to the baseline's before its first sync."""
    fresh = start_world(tmp_path)
    yield fresh
    fresh.sandbox.stop()
