"""The machine a benchmark ran on, its results file and the results table in benchmarks/README.md."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

README = Path(__file__).with_name("README.md")
RESULTS = Path(__file__).with_name("results")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "cpu": cpu,
        "load_avg_at_start": os.getloadavg(),
    }


def describe(m: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.1f}" for x in m["load_avg_at_start"])
    return f"{m['nproc']} cores {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}, load {load}"


def save_result(result: dict[str, Any], name: str) -> Path:
    """Writes ``result`` as benchmarks/results/<name>.json (values JSON cannot hold as text) and returns the path."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return out


def append_row(table: str, header: list[str], row: list[str]) -> None:
    """Append ``row`` to the table under the ``## <table>`` heading of the README, creating both if missing."""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    heading = f"## {table}"
    line = "| " + " | ".join(row) + " |"
    if heading not in text:
        rule = "|" + "|".join("---" for _ in header) + "|"
        text = text.rstrip("\n") + f"\n\n{heading}\n\n| " + " | ".join(header) + f" |\n{rule}\n{line}\n"
    else:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        end = len(text) if end < 0 else end
        section = text[start:end].rstrip("\n") + "\n" + line + "\n"
        text = text[:start] + section + ("\n" + text[end:].lstrip("\n") if end < len(text) else "")
    README.write_text(text)
