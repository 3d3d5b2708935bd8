"""`make sql`: the duckdb shell on the analysts' read-only copy of the marts.

The copy is found as the sync writes it (``marts_copy.find_copy``). Read-only, so a shell left open never blocks
a run.
"""

import argparse
import os
import sys
from pathlib import Path

from analytics.marts_copy import add_data_dir, find_copy

# The duckdb-cli package puts the shell next to the venv's python, at the version of the duckdb library.
SHELL = Path(sys.executable).parent / "duckdb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.sql", description=__doc__.splitlines()[0])
    add_data_dir(parser)
    parser.add_argument("shell_args", nargs="*", help="passed to duckdb, e.g. -c 'select 1' or -csv")
    args = parser.parse_args(argv)
    target = find_copy(args.data_dir, os.environ)
    if target is None:
        return 2
    os.execv(SHELL, [str(SHELL), "-readonly", str(target), *args.shell_args])


if __name__ == "__main__":
    sys.exit(main())
