"""Audit stamps of the generated org: spread over the days before generation (as a real org's records were
last modified at many times), drawn from the seed, never before a row's CreatedDate nor after generation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.salesforce import world  # the Salesforce side only
from sandbox.store import Store, parse_sf_datetime, sf_datetime, wall_clock

OBJECTS = ("Lead", "Contact", "Account", "Campaign", "CampaignMember", "Opportunity", "OpportunityHistory")
SCALE = 400


def stamps(store: Store, obj: str) -> list[tuple[str, str, str, str]]:
    """Id, CreatedDate, SystemModstamp, LastModifiedDate (SystemModstamp for objects without one)."""
    modified = '"LastModifiedDate"' if store.field(obj, "LastModifiedDate") else '"SystemModstamp"'
    sql = f'SELECT "Id", "CreatedDate", "SystemModstamp", {modified} FROM "{obj}" ORDER BY "Id"'
    return store.conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, str]]:
    store = Store(tmp_path_factory.mktemp("stamps") / "org.sqlite")
    started = wall_clock()
    world.generate(store, SCALE, 3)
    yield store, started, wall_clock()


def test_generated_stamps_are_spread_over_the_days_before_generation(
    generated: tuple[Store, str, str],
) -> None:
    store, started, finished = generated
    midnight = parse_sf_datetime(started).replace(hour=0, minute=0, second=0, microsecond=0)
    earliest = sf_datetime(midnight - timedelta(days=world.AUDIT_SPREAD_DAYS, seconds=1))
    for obj in OBJECTS:
        rows = stamps(store, obj)
        assert rows, obj
        for _, created, modstamp, modified in rows:
            assert modstamp == modified, obj
            assert earliest <= modstamp <= finished and created <= modstamp, obj
        # an incremental read's five-minute lookback sees a few generated rows, not the whole world
        recent = sf_datetime(parse_sf_datetime(started) - timedelta(minutes=5))
        assert sum(r[2] >= recent for r in rows) <= max(2, len(rows) // 100), obj
        assert len({r[2] for r in rows}) > len(rows) // 2, obj


def test_same_seed_and_day_give_the_same_stamps(
    generated: tuple[Store, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def at_fixed_clock(path: Path, seed: int, clock: str = "2026-11-27T12:00:00.000+0000") -> Store:
        monkeypatch.setattr(world, "wall_clock", lambda: clock)
        store = Store(path)
        world.generate(store, SCALE, seed)
        return store

    # worlds of one seed generated minutes apart on the same day (a test's baseline and its faulty twin)
    a = at_fixed_clock(tmp_path / "a.sqlite", 3)
    b = at_fixed_clock(tmp_path / "b.sqlite", 3, "2026-11-27T12:07:31.000+0000")
    other = at_fixed_clock(tmp_path / "c.sqlite", 4)
    assert all(stamps(a, obj) == stamps(b, obj) for obj in OBJECTS)
    assert stamps(a, "Lead") != stamps(other, "Lead")
    # the stamps come from a generator of their own: the business data is the seed's, whatever the clock
    business = 'SELECT "Id", "Email", "CreatedDate" FROM "Lead" ORDER BY "Id"'
    original, _, _ = generated
    assert a.conn.execute(business).fetchall() == original.conn.execute(business).fetchall()
