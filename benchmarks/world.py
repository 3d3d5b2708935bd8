"""A sandbox world kept between the standalone benchmarks (bench_sandbox, bench_extract) of one scale."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import machine
from sandbox.launcher import Sandbox, start


def parse_args(prog: str, doc: str, argv: list[str] | None) -> argparse.Namespace:
    """The command line the benchmarks of a kept world share: its scale, seed and directory."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="number of Leads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench-world"))
    return parser.parse_args(argv)


def new_result(scale: int) -> dict[str, Any]:
    """The head of a result file: when, at what scale, on which machine."""
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "scale": scale, "machine": machine.machine()}


def world_dir(root: Path, scale: int) -> Path:
    return (root / str(scale)).resolve()


def open_world(root: Path, scale: int, seed: int) -> tuple[Sandbox, float | None]:
    """Start the sandbox on the world of this scale, generating it first if there is none. Returns the
    sandbox and the generation time (None when an existing world was reused)."""
    data_dir = world_dir(root, scale) / "sandbox"
    fresh = not (data_dir / "sandbox.sqlite").exists()
    started = time.perf_counter()
    sandbox = start(data_dir, scale=scale, seed=seed, timeout=4 * 3600)
    return sandbox, (time.perf_counter() - started if fresh else None)


def client_env(sandbox: Sandbox, work_dir: Path) -> dict[str, str]:
    """Client environment for the sandbox, with the token cache and warehouse under ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return {
        **sandbox.env,
        "WAREHOUSE_PATH": str(work_dir / "warehouse.duckdb"),
        "TOKEN_CACHE_PATH": str(work_dir / "tokens.json"),
    }
