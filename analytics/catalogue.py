"""`make docs`: dbt's catalogue of the project, its column types read from the analysts' read-only copy.

The copy is found as `make sql` finds it. dbt opens it through the profile's `analytics` target, read-only, so
the live warehouse is never opened and a run is never blocked. The copy holds the marts alone: their columns
come with the types DuckDB reports; staging, intermediate and sync models are documented from their yml
descriptions (the site shows those columns without types). The site is written beside the copy
(``<copy name>_docs``), then served.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from analytics.marts_copy import ENV_VAR, add_data_dir, find_copy
from common.dbt_manifest import DBT_DIR
from common.sync_config import load_sync_config

DBT = Path(sys.executable).with_name("dbt")
TARGET = "analytics"


def docs_path(copy: Path) -> Path:
    """The folder of the generated site beside the copy: ``<copy name>_docs``."""
    return copy.with_name(f"{copy.stem}_docs")


def _dbt(command: list[str], copy: Path) -> list[str]:
    out = docs_path(copy)
    return [
        str(DBT), "docs", *command,
        "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", TARGET,
        "--target-path", str(out), "--log-path", str(out),
    ]  # fmt: skip


def generate(copy: Path) -> subprocess.CompletedProcess[str]:
    """`dbt docs generate` on the copy with sync.yaml's vars, so the site shows the models as this setup
    builds them (the configured fields, lists and mapping)."""
    dbt_vars = json.dumps(load_sync_config().to_dbt_vars(), sort_keys=True)
    return subprocess.run(
        [*_dbt(["generate"], copy), "--vars", dbt_vars],
        env={**os.environ, ENV_VAR: str(copy)},
        capture_output=True,
        text=True,
        check=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics.catalogue", description=__doc__.splitlines()[0]
    )
    add_data_dir(parser)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--no-serve", action="store_true", help="generate the site only")
    args = parser.parse_args(argv)
    copy = find_copy(args.data_dir, os.environ)
    if copy is None:
        return 2
    done = generate(copy)
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        return done.returncode
    print(f"catalogue of {copy} in {docs_path(copy)}")
    if args.no_serve:
        return 0
    serve = [*_dbt(["serve"], copy), "--port", str(args.port)]
    os.execve(serve[0], serve, {**os.environ, ENV_VAR: str(copy)})


if __name__ == "__main__":
    sys.exit(main())
