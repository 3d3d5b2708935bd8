"""`make bench PROFILE=1`: a pyinstrument profile of each benchmark cycle, kept as text and HTML under
benchmarks/results/profiles/, with its hottest frames and dbt's slowest nodes for the result JSON.

pyinstrument samples the thread that runs the job (the in-process executor runs every step there). dbt runs in a
subprocess: the profile shows its time as waiting, so dbt's own per-node timings come from the run_results.json of
the cycle's dbt invocation instead.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pyinstrument import Profiler, processors
from pyinstrument.frame import Frame
from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer
from pyinstrument.session import Session

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
PROFILES = Path(__file__).with_name("results") / "profiles"
HARNESS = Path(__file__).resolve().parent
INTERVAL_S = 0.01
# The text report hides frames under 1% of the cycle and stops after this many lines (the HTML has everything).
TEXT_THRESHOLD = 0.01
TEXT_MAX_LINES = 250
# The HTML embeds the whole call tree, ~13 MB for a 90 s cycle through Dagster's deep stacks: without the frames
# under 0.1% of the cycle it stays small, and still shows far more than the text.
HTML_THRESHOLD = 0.001
TOP = 10


def profile_call(fn: Callable[[], T]) -> tuple[T, Session]:
    """Run ``fn`` under pyinstrument; its result and the profile session."""
    profiler = Profiler(interval=INTERVAL_S, async_mode="disabled")
    profiler.start()
    try:
        result = fn()
    finally:
        session = profiler.stop()
    return result, session


def write_report(session: Session, stem: str, directory: Path = PROFILES) -> dict[str, Any]:
    """``<directory>/<stem>.txt`` (the hot frames, then the call tree) and ``.html``; their paths (relative to the
    repository when inside it) and the hot frames."""
    hot = hot_frames(session)
    directory.mkdir(parents=True, exist_ok=True)
    tree = ConsoleRenderer(
        unicode=False, color=False, show_all=False, processor_options={"filter_threshold": TEXT_THRESHOLD}
    ).render(session)
    lines = [*_hot_lines(hot), *tree.splitlines()]
    if len(lines) > TEXT_MAX_LINES:
        lines = [*lines[:TEXT_MAX_LINES], f"... {len(lines) - TEXT_MAX_LINES} more lines: see {stem}.html"]
    txt, html = directory / f"{stem}.txt", directory / f"{stem}.html"
    txt.write_text("\n".join(lines) + "\n")
    renderer = HTMLRenderer()
    renderer.preprocessors = [processors.remove_irrelevant_nodes]
    renderer.preprocessor_options = {"filter_threshold": HTML_THRESHOLD}
    html.write_text(renderer.render(session))
    return {"text": _display_path(txt), "html": _display_path(html), "hot_frames": hot}


def _hot_lines(hot: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The hot frames as text: the call tree below hides dagster's frames, and with them where their time went."""
    lines = [
        "Self time outside dagster's packages (s  frame  <- nearest project frame  [library in between]):"
    ]
    for e in hot["self"]:
        caller = f"  <- {e['called_from']}" if e["called_from"] else ""
        via = f"  [{e['via']}]" if e["via"] else ""
        lines.append(f"{e['seconds']:>8.2f}  {e['frame']}{caller}{via}")
    lines.append("Project functions by cumulative time (s):")
    lines += [f"{e['seconds']:>8.2f}  {e['frame']}" for e in hot["cumulative"]]
    return lines


def _display_path(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _is_dagster(frame: Frame) -> bool:
    package = _package(frame)
    return package is not None and package.startswith("dagster")


def _package(frame: Frame) -> str | None:
    """Top-level package of a frame in site-packages (dagster, duckdb, requests...), else None."""
    path = frame.file_path or ""
    if "site-packages/" not in path:
        return None
    return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")


def _label(frame: Frame) -> str:
    path = frame.file_path or ""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(f"{ROOT}{os.sep}"):
        path = path[len(str(ROOT)) + 1 :]
    else:
        path = frame.file_path_short or path
    # duckdb's functions are bound by pybind11, whose generated class name says nothing
    function = re.sub(r"^pybind11_\w+\.", "", frame.function)
    return f"{function} {path}:{frame.line_no}" if frame.line_no else f"{function} {path}"


def _is_project(frame: Frame) -> bool:
    return frame.is_application_code and (frame.file_path or "").startswith(f"{ROOT}{os.sep}")


def _walk(
    frame: Frame, caller: str | None, library: str | None
) -> Iterator[tuple[Frame, str | None, str | None]]:
    """Every real frame with its nearest project-code ancestor (``caller``) and the site-packages package it was
    reached through since that ancestor (``library``): what a self-time entry in the stdlib was doing."""
    if frame.is_synthetic:
        return
    if _is_project(frame):
        caller, library = _label(frame), None
    elif library is None:
        library = _package(frame)
    yield frame, caller, library
    for child in frame.children:
        yield from _walk(child, caller, library)


def hot_frames(session: Session, top: int = TOP) -> dict[str, list[dict[str, Any]]]:
    """The ``top`` frames by self time outside dagster's own packages (with the project frame and library they
    were called from), and the ``top`` project functions (ingest, orchestration: not this harness) by cumulative
    time, recursion counted once."""
    root = session.root_frame()
    if root is None:
        return {"self": [], "cumulative": []}
    own: dict[tuple[str, str | None, str | None], float] = defaultdict(float)
    for frame, caller, library in _walk(root, None, None):
        if not _is_dagster(frame) and frame.total_self_time > 0:
            label = _label(frame)
            own[(label, None if caller == label else caller, library)] += frame.total_self_time
    cumulative: dict[str, float] = defaultdict(float)
    _cumulative(root, cumulative, frozenset())
    return {
        "self": [
            {"frame": label, "called_from": caller, "via": library, "seconds": round(s, 2)}
            for (label, caller, library), s in sorted(own.items(), key=lambda kv: -kv[1])[:top]
        ],
        "cumulative": [
            {"frame": label, "seconds": round(s, 2)}
            for label, s in sorted(cumulative.items(), key=lambda kv: -kv[1])[:top]
        ],
    }


def _cumulative(frame: Frame, out: dict[str, float], open_labels: frozenset[str]) -> None:
    if frame.is_synthetic:
        return
    if _is_project(frame) and not (frame.file_path or "").startswith(f"{HARNESS}{os.sep}"):
        label = _label(frame)
        if label not in open_labels:  # a recursive call's time is already in its outermost frame
            out[label] += frame.time
            open_labels = open_labels | {label}
    for child in frame.children:
        _cumulative(child, out, open_labels)


def dbt_target() -> Path:
    """Where dagster-dbt puts its invocations' target directories: DBT_TARGET_PATH, relative to the project."""
    from orchestration.defs.dbt import DBT_DIR

    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return target if target.is_absolute() else DBT_DIR / target


def dbt_slowest(
    run_id: str, since: float, target: Path | None = None, top: int = TOP
) -> dict[str, Any] | None:
    """dbt's slowest nodes in the run: dagster-dbt gives each invocation a directory in ``target`` named
    ``<op>-<run_id[:7]>-<uuid[:7]>``; the newest run_results.json there written since ``since`` (epoch s)."""
    target = target or dbt_target()
    found = [p for p in target.glob(f"*-{run_id[:7]}-*/run_results.json") if p.stat().st_mtime >= since]
    if not found:
        return None
    path = max(found, key=lambda p: p.stat().st_mtime)
    results = json.loads(path.read_text())
    nodes = sorted(results["results"], key=lambda r: -(r.get("execution_time") or 0))[:top]
    return {
        "run_results": _display_path(path),
        "elapsed_s": round(results.get("elapsed_time") or 0, 2),
        "slowest_nodes": [
            {"node": n["unique_id"], "status": n["status"], "seconds": round(n["execution_time"] or 0, 2)}
            for n in nodes
        ],
    }
