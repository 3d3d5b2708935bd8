"""`make sql`: the duckdb shell on the analysts' read-only copy of the marts.

The copy is found as the sync writes it: $ANALYTICS_PATH, else beside $WAREHOUSE_PATH (a real setup's
environment, from ENV_FILE), else the demo's data dir. Read-only, so a shell left open never blocks a run.
"""

import argparse
import os
import sys
from pathlib import Path

from analytics.marts_copy import ENV_VAR, analytics_path
from common.warehouse import warehouse_path

# The duckdb-cli package puts the shell next to the venv's python, at the version of the duckdb library.
SHELL = Path(sys.executable).parent / "duckdb"


def copy_path(data_dir: Path, env: dict[str, str]) -> Path:
    if ENV_VAR in env or "WAREHOUSE_PATH" in env:
        return analytics_path(warehouse_path(env), env)
    return analytics_path(data_dir.resolve() / "warehouse.duckdb", env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.sql", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".data/demo"), help="the demo's data dir")
    parser.add_argument("shell_args", nargs="*", help="passed to duckdb, e.g. -c 'select 1' or -csv")
    args = parser.parse_args(argv)
    target = copy_path(args.data_dir, dict(os.environ))
    if not target.exists():
        print(f"no analysts' copy at {target}: run `make demo` (or a sync) first", file=sys.stderr)
        return 2
    os.execv(SHELL, [str(SHELL), "-readonly", str(target), *args.shell_args])


if __name__ == "__main__":
    sys.exit(main())
