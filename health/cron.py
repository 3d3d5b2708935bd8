"""Cron arithmetic for the schedules of sync.yaml (5 fields, UTC), on croniter: the latest ticks of a schedule,
its next ticks, and the shortest time between two of its ticks."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import pairwise

from croniter import croniter

# Weekdays and leap years repeat every 28 years from 1901 to 2099: the ticks of one such cycle meet every
# alignment of weekday, month length and leap day that the gaps of a pattern can depend on.
CYCLE_START, CYCLE_END = datetime(2001, 1, 1), datetime(2029, 1, 1)
DAY = timedelta(days=1)


def last_ticks(cron: str, now: datetime, count: int) -> list[datetime]:
    """The ``count`` latest ticks at or before ``now``, latest first (naive or aware, as ``now`` is)."""
    # croniter steps back strictly before its start: a microsecond later keeps a tick at ``now`` itself
    ticks = croniter(cron, now + timedelta(microseconds=1))
    return [ticks.get_prev(datetime) for _ in range(count)]


def next_ticks(cron: str, since: datetime, count: int) -> list[datetime]:
    """The ``count`` first ticks after ``since``."""
    ticks = croniter(cron, since)
    return [ticks.get_next(datetime) for _ in range(count)]


@functools.cache
def shortest_interval(cron: str) -> timedelta:
    """The shortest time between two consecutive ticks of ``cron``, wherever in the calendar they fall: the
    most Dagster lets a cron freshness policy's lower bound be, whatever the instant the definitions load."""
    ticks = croniter(cron, CYCLE_START - timedelta(seconds=1))  # from midnight: the first tick day is whole
    day = [ticks.get_next(datetime)]
    while (tick := ticks.get_next(datetime)).date() == day[0].date():
        day.append(tick)
    # Minutes and hours do not depend on the day, so every tick day has the first one's gaps, and a gap across
    # days is at least the overnight one (from the last time of a day to the first of the next): the tick days
    # are walked only while that could still be shorter than what was found.
    shortest = min((b - a for a, b in pairwise(day)), default=timedelta.max)
    overnight = DAY - (day[-1] - day[0])
    previous = day[-1]
    while shortest > overnight and previous < CYCLE_END:
        shortest = min(shortest, tick - previous)
        previous, tick = tick, ticks.get_next(datetime)
    return shortest


def most_frequent(crons: Iterable[str]) -> str | None:
    """The cron whose ticks can come closest together (the first of equals)."""
    return min(crons, key=shortest_interval, default=None)
