"""The guard that keeps a test inside one UTC day (tests/conftest.py)."""

from datetime import UTC, datetime

from tests.conftest import wait_for_midnight


def test_a_test_starting_near_midnight_waits_until_just_past_it() -> None:
    assert wait_for_midnight(datetime(2026, 11, 29, 23, 58, 0, tzinfo=UTC), timeout=600) == 121


def test_a_test_with_half_its_timeout_left_before_midnight_starts_at_once() -> None:
    assert wait_for_midnight(datetime(2026, 11, 29, 23, 55, 0, tzinfo=UTC), timeout=600) == 0
    assert wait_for_midnight(datetime(2026, 11, 30, 0, 0, 1, tzinfo=UTC), timeout=1800) == 0
