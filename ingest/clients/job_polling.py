"""How a client waits for a job the server runs on its own (a Bulk 2.0 job, an Act-On list upload).

Status polls are spaced at a quarter of the time the job has run so far (at least 0.25 s, at most 10 s): a
finished job is seen at most a quarter of its run time late, and the number of polls grows with the logarithm
of the run time. Doubling waits, the usual backoff, can leave a finished job unseen for as long as it ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")
MIN_WAIT_S = 0.25
MAX_WAIT_S = 10.0


def next_wait(job_age_s: float) -> float:
    """Seconds until the next status poll of a job that has run ``job_age_s`` seconds."""
    return min(MAX_WAIT_S, max(MIN_WAIT_S, job_age_s / 4))


def poll_job(
    status: Callable[[], T], running: Callable[[T], bool], *, timeout_s: float, first_wait_s: float = 0.0
) -> T:
    """Call ``status`` until ``running(answer)`` is false; after ``timeout_s`` the last answer is returned.

    ``first_wait_s`` is the least time the job can take: a poll before it would only spend a call."""
    time.sleep(first_wait_s)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(running),
        wait=lambda state: next_wait(first_wait_s + state.seconds_since_start),
        stop=tenacity.stop_after_delay(timeout_s),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    return retrying(status)
