"""Importing a module under orchestration/ has no side effect (issue 27): it writes no environment variable, reads
no sync.yaml, opens no dbt manifest and parses no dbt project (no dbt process, nothing under its target/).
Building the definitions does the reading and the parsing, each time it is called, so a changed sync.yaml takes
effect at the next build without importing anything again.

The imports run in a fresh process (this one may have imported the modules already), watched by audit hooks
(PEP 578): every file opened under the watched paths and every dbt process started is recorded."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULT = "IMPORT_PROBE "
# The one variable importing the project writes: common/__init__.py sets jemalloc's options before polars loads
# (and polars adds its own); an allocator setting of the process, read when the library loads, not configuration.
ALLOCATOR_VAR = "_RJEM_MALLOC_CONF"


def orchestration_modules() -> list[str]:
    """Every module under orchestration/, packages included."""
    names = []
    for path in sorted((ROOT / "orchestration").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _env_changes(before: dict[str, str]) -> dict[str, list[str | None]]:
    after = dict(os.environ)
    return {
        k: [before.get(k), after.get(k)] for k in sorted({*before, *after}) if before.get(k) != after.get(k)
    }


def probe(sync_config: str, dbt_copy: str) -> None:
    """Run in a fresh process with $SYNC_CONFIG naming a file that does not exist: import every orchestration
    module, then build the definitions twice, without and with a sync.yaml at ``sync_config``, the second time
    from ``dbt_copy``, a copy of dbt_project/ without its manifest. Prints what each phase did."""
    watched = [str(Path(p).resolve()) for p in (os.environ["SYNC_CONFIG"], sync_config, dbt_copy)]
    watched.append(str(ROOT / "dbt_project" / "target"))
    events: list[list[str]] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], (str, os.PathLike)):
            path = os.path.abspath(os.fspath(args[0]))
            if any(path == w or path.startswith(w + os.sep) for w in watched):
                events.append(["open", path])
        elif event == "subprocess.Popen":  # (executable, args, cwd, env): how dagster-dbt starts dbt
            argv = [args[1]] if isinstance(args[1], (str, os.PathLike)) else list(args[1])
            if Path(os.fspath(argv[0])).name == "dbt":
                events.append(["dbt", " ".join(map(os.fspath, argv))])

    def phase(run: Callable[[], object]) -> dict[str, Any]:
        events.clear()
        before = dict(os.environ)
        error = None
        try:
            run()
        except Exception as e:  # reported, for the test to judge
            error = f"{type(e).__name__}: {e}"
        return {"env": _env_changes(before), "events": list(events), "error": error}

    sys.addaudithook(hook)
    results = {"import": phase(lambda: [importlib.import_module(m) for m in orchestration_modules()])}

    from dagster_dbt import DbtProject

    import orchestration.defs.dbt as dbt_defs
    from orchestration.definitions import defs

    results["build_without_sync_yaml"] = phase(defs)
    shutil.copy(ROOT / "sync.yaml", sync_config)
    os.environ["SYNC_CONFIG"] = sync_config
    dbt_defs.dbt_project = DbtProject(project_dir=dbt_copy)
    results["build"] = phase(defs)
    print(RESULT + json.dumps(results), flush=True)


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("imports")
    dbt_copy = tmp / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", dbt_copy, ignore=shutil.ignore_patterns("target", "logs"))
    env = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_PATH", ALLOCATOR_VAR)}
    env["SYNC_CONFIG"] = str(tmp / "missing" / "sync.yaml")
    script = "import sys; from tests.orchestration.test_imports import probe; probe(*sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp / "sync.yaml"), str(dbt_copy)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    return {**json.loads(line.removeprefix(RESULT)), "tmp": str(tmp)}


def test_importing_any_orchestration_module_writes_no_environment_reads_no_sync_yaml_and_parses_no_dbt(
    probed: dict[str, Any],
) -> None:
    imported = probed["import"]
    assert imported["error"] is None
    assert set(imported["env"]) <= {ALLOCATOR_VAR}, imported["env"]
    # neither sync.yaml nor anything under a dbt target/ opened, no dbt started
    assert imported["events"] == []


def test_building_the_definitions_reads_sync_yaml_each_time(probed: dict[str, Any]) -> None:
    missing = str(Path(probed["tmp"]) / "missing" / "sync.yaml")
    failed = probed["build_without_sync_yaml"]
    assert failed["error"].startswith("SyncConfigError: ") and missing in failed["error"]
    assert ["open", missing] in failed["events"]
    assert failed["env"] == {}

    built = probed["build"]
    assert built["error"] is None
    assert ["open", str(Path(probed["tmp"]) / "sync.yaml")] in built["events"]
    assert built["env"] == {}  # the warehouse reaches dbt as a var, not through the environment


def test_building_the_definitions_parses_a_stale_dbt_project(probed: dict[str, Any]) -> None:
    built = probed["build"]
    dbt_copy = Path(probed["tmp"]) / "dbt_project"
    started = [argv for event, argv in built["events"] if event == "dbt"]
    assert len(started) == 1 and " parse " in started[0], started
    assert ["open", str(dbt_copy / "target" / "manifest.json")] in built["events"]
    # the shared project's manifest is left alone: this build parsed the copy
    assert not [e for e in built["events"] if str(ROOT / "dbt_project" / "target") in e[1]]


def test_a_changed_sync_yaml_takes_effect_at_the_next_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No module is imported again: the same function builds the definitions of the new sync.yaml."""
    import dagster as dg
    import yaml

    from orchestration.definitions import defs

    config = yaml.safe_load((ROOT / "sync.yaml").read_text())
    path = tmp_path / "sync.yaml"
    monkeypatch.setenv("SYNC_CONFIG", str(path))

    def built_with(optout_cron: str) -> tuple[str | None, list[str]]:
        config["optouts"]["schedule"] = optout_cron
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        definitions = defs()
        policy = definitions.resolve_asset_graph().get(dg.AssetKey("optout_sync")).freshness_policy
        crons = [s.cron_schedule for s in definitions.schedules or () if s.name == "optout_job_schedule"]
        return getattr(policy, "deadline_cron", None), crons

    assert built_with("0 * * * *") == ("0 * * * *", ["0 * * * *"])
    assert built_with("*/15 * * * *") == ("*/15 * * * *", ["*/15 * * * *"])
