"""Just enough cron (5 fields, UTC) to know a schedule's last tick and its interval, for freshness."""

from __future__ import annotations

from datetime import datetime, timedelta

_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = [
    {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
]
_HORIZON = timedelta(days=366)


def _value(token: str, index: int) -> int:
    names = _NAMES[0] if index == 3 else _NAMES[1] if index == 4 else {}
    return names[token.lower()] if token.lower() in names else int(token)


def _allowed(part: str, index: int) -> set[int]:
    low, high = _FIELDS[index]
    out: set[int] = set()
    for item in part.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            first, last = low, high
        else:
            a, _, b = base.partition("-")
            first = _value(a, index)
            last = _value(b, index) if b else (high if step else first)
        out.update(range(first, last + 1, int(step) if step else 1))
    if index == 4 and 7 in out:
        out.add(0)  # 7 and 0 are both Sunday
    return out


def _matches(fields: list[set[int]], parts: list[str], t: datetime) -> bool:
    minute, hour, dom, month, dow = fields
    if t.minute not in minute or t.hour not in hour or t.month not in month:
        return False
    day_ok, weekday_ok = t.day in dom, (t.isoweekday() % 7) in dow
    # cron's rule: when both day fields are restricted, either may match
    if parts[2] != "*" and parts[4] != "*":
        return day_ok or weekday_ok
    return day_ok and weekday_ok


def last_tick(expr: str, now: datetime) -> datetime:
    """The latest tick at or before ``now`` (naive UTC)."""
    parts = expr.split()
    fields = [_allowed(p, i) for i, p in enumerate(parts)]
    t = now.replace(second=0, microsecond=0)
    stop = now - _HORIZON
    while t >= stop:
        if _matches(fields, parts, t):
            return t
        t -= timedelta(minutes=1)
    raise ValueError(f"cron {expr!r} has no tick within a year before {now}")


def interval(expr: str, now: datetime) -> timedelta:
    """The time between the last two ticks before ``now``."""
    tick = last_tick(expr, now)
    return tick - last_tick(expr, tick - timedelta(minutes=1))


def most_frequent(exprs: list[str], now: datetime) -> str | None:
    return min(exprs, key=lambda e: interval(e, now), default=None)
