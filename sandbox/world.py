"""The whole synthetic world the two sandboxes serve, on one world clock (store meta ``world_clock``):
``generate`` builds the Salesforce org and then the Act-On side from its people, ``simulate`` moves both forward
hour by hour, the Salesforce side first. Each side draws from ``random.Random`` seeded from the world seed (and the
hour index), so two stores given the same calls hold the same rows."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from sandbox.acton import world as acton_world
from sandbox.salesforce import world as salesforce_world
from sandbox.store import Store


def generate(store: Store, scale: int, seed: int) -> None:
    """Build the world for ``scale`` Leads once: the org (other objects in proportion), then the Act-On side."""
    if store.get_meta("generated"):
        return
    salesforce_world.generate(store, scale, seed)
    acton_world.generate(store, random.Random(f"{seed}-acton"))
    store.set_meta("generated", True)


def simulate(store: Store, hours: int, churn: float | None = None) -> dict[str, Any]:
    """Advance the world ``hours`` hours of business activity; returns counts of what changed.

    ``churn`` is the share of Leads + Contacts touched per hour (default ``salesforce_world.DEFAULT_CHURN``).
    """
    seed = store.get_meta("world_seed")
    if seed is None:
        raise RuntimeError("simulate needs a generated world: call generate first")
    counts: Counter[str] = Counter()
    for _ in range(hours):
        hour_index = store.get_meta("world_hours", 0)
        hour_start, hour_end = salesforce_world.simulate_hour(store, seed, hour_index, churn, counts)
        acton = acton_world.simulate_hour(
            store, random.Random(f"{seed}-acton-sim-{hour_index}"), hour_start, hour_end
        )
        counts.update({f"acton_{k}": v for k, v in acton.items() if isinstance(v, int)})
        store.set_meta("world_clock", hour_end)
        store.set_meta("world_hours", hour_index + 1)
    return {"hours": hours, "world_clock": store.get_meta("world_clock"), **dict(sorted(counts.items()))}
