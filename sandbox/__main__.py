"""`python -m sandbox serve --data-dir DIR [--scale N] [--seed S] [--salesforce-port P] [--acton-port Q]
[--bare-org]`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Local Salesforce and Act-On API sandboxes"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="generate the world if needed and serve both APIs over HTTPS")
    s.add_argument(
        "--data-dir", type=Path, required=True, help="SQLite store, TLS files and sandbox.env live here"
    )
    s.add_argument("--scale", type=int, default=1000, help="number of Leads; other objects in proportion")
    s.add_argument("--seed", type=int, default=1, help="same seed, same world")
    s.add_argument("--salesforce-port", type=int, default=None)
    s.add_argument("--acton-port", type=int, default=None)
    s.add_argument(
        "--bare-org",
        action="store_true",
        help="on first start, an org without the sync's custom fields and with its consent fields restricted",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    serve(
        args.data_dir.resolve(), args.scale, args.seed, args.salesforce_port, args.acton_port, args.bare_org
    )


if __name__ == "__main__":
    main()
