"""A token bucket shared by every thread of a process that talks to one rate-limited API account."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int = 1):
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            # Waiting while holding the lock keeps waiters in order and the accounting exact.
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                time.sleep((1 - self._tokens) / self.rate)
                self._stamp = time.monotonic()
                self._tokens = 1.0
            self._tokens -= 1


_shared: dict[str, TokenBucket] = {}
_shared_lock = threading.Lock()


def shared_bucket(key: str, rate: float, burst: int = 1) -> TokenBucket:
    """The process-wide bucket for ``key`` (one per API account), created on first use."""
    with _shared_lock:
        if key not in _shared:
            _shared[key] = TokenBucket(rate, burst)
        return _shared[key]
