"""The sync's dbt invocation (orchestration/defs/dbt.py): a run with the same sync.yaml as the previous one parses
nothing again (dbt re-parses the whole project whenever its command-line vars change, so nothing run-specific may
be a var), it leaves out the unit tests (development checks: test_dbt_models' `dbt build` runs them), and it starts
no process but dbt's own."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dbt.cli.main import dbtRunner
from dbt_common.events.base_types import EventMsg

from common.sync_config import load_sync_config
from orchestration.defs.dbt import DBT_EXECUTABLE, VenvDbtCliResource, build_args, dbt_project, sync_vars
from tests.raw_fixtures import ROOT

Invoke = Callable[..., tuple[list[str], Any]]


@pytest.fixture
def dbt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Runs one dbt command; returns the names of the events it fired and its result."""
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))

    def invoke(*args: str) -> tuple[list[str], Any]:
        events: list[str] = []

        def record(event: EventMsg) -> None:
            events.append(event.info.name)

        result = dbtRunner(callbacks=[record]).invoke(
            [
                *args,
                "--project-dir", str(ROOT / "dbt_project"),
                "--profiles-dir", str(ROOT / "dbt_project"),
                "--target-path", str(tmp_path / "target"),
                "--log-path", str(tmp_path / "target"),
                "--quiet",
            ]
        )  # fmt: skip
        assert result.success, result.exception
        return events, result.result

    return invoke


INTEGRATION_USER = "005000000000001AAA"  # stable across runs, as the token's user is


def production_vars() -> str:
    args = build_args(sync_vars(load_sync_config(ROOT / "sync.yaml"), INTEGRATION_USER))
    return args[args.index("--vars") + 1]


def reparsed(dbt: Invoke, dbt_vars: str) -> bool:
    events, _ = dbt("parse", "--vars", dbt_vars)
    return "UnableToPartialParse" in events


def test_the_next_run_with_the_same_sync_yaml_parses_nothing_again(dbt: Invoke) -> None:
    assert reparsed(dbt, production_vars())  # no saved state yet
    assert not reparsed(dbt, production_vars())


def test_a_var_that_changes_every_run_would_reparse_everything(dbt: Invoke) -> None:
    """Why the run id is not a var: the check above would catch it."""
    reparsed(dbt, production_vars())
    assert reparsed(dbt, production_vars().replace("{", '{"run_id": "another run", ', 1))


def test_the_production_build_leaves_out_unit_tests_only(dbt: Invoke) -> None:
    args = build_args(sync_vars(load_sync_config(ROOT / "sync.yaml"), INTEGRATION_USER))

    def resource_types(*selection: str) -> set[str]:
        _, listed = dbt("ls", "--output", "json", "--output-keys", "resource_type", *selection)
        return {json.loads(line)["resource_type"] for line in listed}

    everything = resource_types()
    assert {"model", "test", "unit_test"} <= everything
    assert resource_types("--exclude", args[args.index("--exclude") + 1]) == everything - {"unit_test"}


def test_an_invocation_starts_dbt_alone_knowing_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dagster-dbt would run `dbt --version` before every invocation, about 2 s of dbt's imports a run."""
    reported = subprocess.check_output([DBT_EXECUTABLE, "--version"], text=True)
    version = re.search(r"(\d+\.\d+\.\d+)", reported)
    assert version, reported
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))

    def no_other_process(args: list[str], **kwargs: Any) -> bytes:
        raise AssertionError(f"started {args} besides dbt")

    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_other_process)
    resource = VenvDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
    invocation = resource.cli(["parse", "--quiet"], target_path=tmp_path / "target").wait()
    assert invocation.is_successful()
    assert str(invocation.cli_version) == version.group(1)
    assert invocation.adapter is None  # the metadata fetchers' handle, unused here
