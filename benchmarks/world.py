"""A sandbox world kept between the standalone benchmarks (bench_sandbox, bench_extract) of one scale."""

from __future__ import annotations

import time
from pathlib import Path

from sandbox.launcher import Sandbox, start


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
