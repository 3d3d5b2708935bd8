"""Idempotency: a second run over an unchanged world sends nothing and changes nothing in either system."""

from __future__ import annotations

import pytest

from tests.reliability.harness import Baseline, differences, outside_the_warehouse

# several syncs per test (the first also pays for the shared baseline): minutes, more on a loaded machine
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]


def test_first_run_writes_and_second_run_sends_nothing(fault_free: Baseline) -> None:
    first, second = fault_free.runs
    world = fault_free.world
    assert world.rows_sent(first.run_id) > 0
    assert world.rows_sent(second.run_id) == 0
    diff = differences(
        outside_the_warehouse(fault_free.first_run_facts), outside_the_warehouse(fault_free.facts)
    )
    assert not diff, "the second run changed the systems:\n" + "\n".join(diff)


def test_every_list_member_is_there_once(fault_free: Baseline) -> None:
    copies = {k: v for k, v in fault_free.facts.items() if k.endswith("/records")}
    assert copies and set(copies.values()) == {1}
