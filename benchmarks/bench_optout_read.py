"""What a complete read of Act-On's opt-out list costs: a whole read through the pipeline's paging (each page
re-reads the last rows of the one before, and the read ends on a page that adds nothing) against the calls of the
offset paging it replaced (1,000-row pages until the first short one), at Act-On's rate limit.

    .venv/bin/python -m benchmarks.bench_optout_read --scale 100000 [--seed 1] [--data-dir .data/bench-world]

The world is the one bench_sandbox and bench_extract share at that scale (generated once, reused).
"""

from __future__ import annotations

import json
import time
from typing import Any

from benchmarks import machine
from benchmarks.world import client_env, new_result, open_world, parse_args, world_dir
from ingest.clients.acton_client import MAX_PAGE, ActOnClient


def whole_read(env: dict[str, str]) -> dict[str, Any]:
    client = ActOnClient.from_env(env)
    client.account_id()  # the token and account calls are not the read's
    before, started = client.calls, time.perf_counter()
    rows = sum(len(page["result"]) for page in client.optout_pages("optout"))
    seconds = time.perf_counter() - started
    calls = client.calls - before
    offset_paging = rows // MAX_PAGE + 1  # pages until the first short one
    return {
        "rows": rows,
        "calls": calls,
        "offset_paging_calls": offset_paging,
        "extra_calls": calls - offset_paging,
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args("python -m benchmarks.bench_optout_read", __doc__ or "", argv)
    result: dict[str, Any] = new_result(args.scale)
    sandbox, _ = open_world(args.data_dir, args.scale, args.seed)
    try:
        result["optout_whole_read"] = whole_read(
            client_env(sandbox, world_dir(args.data_dir, args.scale) / "bench_optout")
        )
    finally:
        sandbox.stop()
    read = result["optout_whole_read"]
    print(f"whole read of the opt-out list: {json.dumps(read)}", flush=True)
    out = machine.save_result(result, f"{result['date']}-optout-read-{args.scale}")
    machine.append_row(
        "bench_optout_read results",
        [
            "date",
            "scale",
            "opt-outs",
            "calls",
            "offset paging's calls",
            "extra calls",
            "s",
            "machine (shared, noisy)",
        ],
        [
            result["date"],
            f"{args.scale:,}",
            f"{read['rows']:,}",
            str(read["calls"]),
            str(read["offset_paging_calls"]),
            str(read["extra_calls"]),
            str(read["seconds"]),
            machine.describe(result["machine"]),
        ],
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
