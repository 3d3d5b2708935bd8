"""Runs unattended, as ``make sync`` runs them: ``dagster job execute`` in a process group of its own, on an
instance with the committed ``.dagster/dagster.yaml`` (the one-slot ``duckdb`` pool). A sync SIGKILLed while its
step holds the pool's only slot does not block the next one, and two syncs started together run one after the
other, the second sending nothing the first sent. (The scenarios are in ``unattended``: the Postgres instance's
tests run them too.)
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import World
from tests.reliability.unattended import (
    committed_instance,
    killed_holding_the_pool_slot_then_next,
    two_syncs_at_once,
)

# two syncs per test on a small world: about a minute and a half each on a loaded two-core machine
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]


def test_a_sync_killed_holding_the_pool_slot_does_not_block_the_next(world: World) -> None:
    killed_holding_the_pool_slot_then_next(world, committed_instance(world))


def test_two_syncs_at_once_run_one_after_the_other(world: World) -> None:
    two_syncs_at_once(world, committed_instance(world))
