"""How fast the sandbox serves what the pipeline reads in bulk: a full Bulk 2.0 queryAll of Leads (rows/s) and
Act-On's CSV download of a list holding every Act-On contact (rows/s), at a given scale.

    .venv/bin/python -m benchmarks.bench_sandbox --scale 100000 [--seed 1] [--data-dir .data/bench-world]

The world is generated once per scale under the data dir (timed) and reused by later runs and bench_extract.
Numbers come from a shared machine: other work running at the same time slows them.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import floors, machine
from benchmarks.rss import hwm_kib
from benchmarks.sandbox_truth import SandboxTruth
from benchmarks.world import client_env, new_result, open_world, parse_args, world_dir
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.clients.salesforce_frames import columns_from_describe
from sandbox.launcher import Sandbox

LIST_NAME = "Benchmark: all contacts"


def bulk_leads(env: dict[str, str]) -> dict[str, Any]:
    client = SalesforceClient.from_env(env)
    select = ", ".join(c.name for c in columns_from_describe(client.describe("Lead")))
    session, base, headers = floors.plain_http(client)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files, calls = floors.bulk_csv_pages(session, base, headers, f"SELECT {select} FROM Lead", Path(tmp))
        seconds = time.perf_counter() - started
        size = sum(f.stat().st_size for f in files)
        rows = sum(sum(1 for _ in csv.reader(io.StringIO(f.read_text()))) - 1 for f in files)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "calls": calls,
        "mib": round(size / 2**20, 1),
        "pages": len(files),
    }


def _all_contacts_list(client: ActOnClient, sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    """The list of every Act-On contact, made by one merge upload the first time (that upload timed)."""
    for page in client.lists():
        for entry in page.get("result") or []:
            if entry["name"] == LIST_NAME:
                return str(entry["id"]), {}
    emails = [email for _, email in SandboxTruth(sandbox.data_dir, []).acton_contacts()]
    specs = [{"columnHeading": "Email", "columnIndex": 0, "ignoreColumn": "N", "columnType": "EMAIL"}]
    list_id = client.create_list(LIST_NAME, specs)
    body = ("Email\n" + "".join(f"{e}\n" for e in emails)).encode()
    started = time.perf_counter()
    status = client.wait_for_job(client.merge_upload(list_id, body, specs))
    seconds = time.perf_counter() - started
    upload = {
        "rows": len(emails),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(emails) / seconds),
        "status": status.get("status"),
    }
    return list_id, upload


def acton_list_download(env: dict[str, str], sandbox: Sandbox) -> dict[str, Any]:
    client = ActOnClient.from_env(env)
    list_id, upload = _all_contacts_list(client, sandbox)
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        size = client.download_list_csv(list_id, out)
        seconds = time.perf_counter() - started
        out.seek(0)
        rows = sum(1 for _ in out) - 1
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "mib": round(size / 2**20, 1),
        "merge_upload": upload,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args("python -m benchmarks.bench_sandbox", __doc__ or "", argv)
    result: dict[str, Any] = new_result(args.scale)
    sandbox, generated = open_world(args.data_dir, args.scale, args.seed)
    result["generate_seconds"] = None if generated is None else round(generated, 1)
    try:
        env = client_env(sandbox, world_dir(args.data_dir, args.scale) / "bench_sandbox")
        result["bulk_leads"] = bulk_leads(env)
        print(f"Bulk 2.0 Leads: {json.dumps(result['bulk_leads'])}", flush=True)
        result["acton_list_csv"] = acton_list_download(env, sandbox)
        print(f"Act-On list CSV: {json.dumps(result['acton_list_csv'])}", flush=True)
        result["sandbox_peak_rss_mib"] = round(hwm_kib(sandbox.proc.pid) / 1024)
    finally:
        sandbox.stop()
    out = machine.save_result(result, f"{result['date']}-sandbox-{args.scale}")
    b, a = result["bulk_leads"], result["acton_list_csv"]
    gen = "reused" if result["generate_seconds"] is None else f"{result['generate_seconds']:.0f}"
    machine.append_row(
        "bench_sandbox results",
        [
            "date",
            "scale",
            "generate s",
            "Bulk 2.0 Leads rows/s (rows, s)",
            "Act-On list CSV rows/s (rows, s)",
            "sandbox peak RSS MiB",
            "machine (shared, noisy)",
        ],
        [
            result["date"],
            f"{args.scale:,}",
            gen,
            f"{b['rows_per_s']:,} ({b['rows']:,}, {b['seconds']})",
            f"{a['rows_per_s']:,} ({a['rows']:,}, {a['seconds']})",
            str(result["sandbox_peak_rss_mib"]),
            machine.describe(result["machine"]),
        ],
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
