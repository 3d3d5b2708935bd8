"""Waiting for a server-side job: a finished job is seen soon after it finishes, for few polls."""

import time

import pytest

from ingest.clients.job_polling import MAX_WAIT_S, MIN_WAIT_S, next_wait, poll_job


def test_the_wait_is_a_quarter_of_the_job_age_within_bounds() -> None:
    assert next_wait(0) == MIN_WAIT_S
    assert next_wait(8) == 2
    assert next_wait(3600) == MAX_WAIT_S


@pytest.mark.parametrize("first_wait_s", [0.0, 1.0])
def test_a_job_is_seen_done_at_most_a_quarter_of_its_run_time_late(first_wait_s: float) -> None:
    started = time.monotonic()
    runs_for = 2.0
    polls: list[float] = []

    def status() -> str:
        polls.append(time.monotonic() - started)
        return "done" if polls[-1] >= runs_for else "running"

    assert poll_job(status, lambda s: s == "running", timeout_s=30, first_wait_s=first_wait_s) == "done"
    assert polls[0] >= first_wait_s
    assert runs_for <= polls[-1] <= runs_for * 1.25 + 1.0  # (+ scheduling slack on a loaded machine)
    # waits doubling from 0.25 s would first see it at 3.75 s
    assert len(polls) <= 9


def test_a_job_still_running_at_the_timeout_returns_its_last_status() -> None:
    answers = iter(range(1000))
    assert poll_job(lambda: next(answers), lambda _: True, timeout_s=0.6) >= 1
