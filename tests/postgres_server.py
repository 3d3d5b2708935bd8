"""A real Postgres server for tests, started from the binaries the ``pgserver`` wheel bundles (so ``make setup``
is all a fresh machine needs: no system package, no download at test time).

Postgres refuses to run as root, and CI runs as root: there the server runs as a system user created on first
use, from a copy of the binaries in a directory that user can reach (the venv may sit under a home only root
can enter). It listens on 127.0.0.1 with password authentication, so a client reaches it as a production
instance reaches its database: host, port, user, password, database.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import psycopg2

# The system user that runs the server when the tests run as root.
OS_USER = "sfacton-pg"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
# Found without importing pgserver, whose import sets up a runtime directory and lock this module has no use for.
_SPEC = find_spec("pgserver")
assert _SPEC is not None and _SPEC.origin is not None, "pgserver is not installed: make setup installs it"
_BUNDLE = Path(_SPEC.origin).resolve().parent


@dataclass
class PostgresServer:
    home: Path  # the server user's directory: data/, server.log
    port: int
    password: str
    bin_dir: Path
    remove: Path | None  # a directory of our own (as root), removed on stop

    def connect(self, db_name: str = "postgres"):  # -> a psycopg2 connection
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname=db_name
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        """An empty database, or a copy of `template` (which must have no session open)."""
        conn = self.connect()
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        finally:
            conn.close()
        return name

    def dagster_env(self, db_name: str) -> dict[str, str]:
        """The variables ``.dagster-postgres/dagster.yaml`` reads."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": SUPERUSER,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": db_name,
        }

    def warehouse_env(self, db_name: str) -> dict[str, str]:
        """WAREHOUSE=postgres and the variables that name the database (common/warehouse.py and the dbt profile's
        ``postgres`` target read them): Dagster's, under the warehouse's names (WAREHOUSE_PG_HOST, _PORT, _USER,
        _PASSWORD, _DATABASE)."""
        return {
            "WAREHOUSE": "postgres",
            **{
                name.replace("DAGSTER_", "WAREHOUSE_").replace("_DB", "_DATABASE"): value
                for name, value in self.dagster_env(db_name).items()
            },
        }

    def stop(self) -> None:
        _run([str(self.bin_dir / "pg_ctl"), "-D", "data", "-m", "fast", "-w", "stop"], self.home)
        if self.remove:
            shutil.rmtree(self.remove, ignore_errors=True)


@contextmanager
def postgres_server(scratch: Path) -> Iterator[PostgresServer]:
    """A server for the duration of the block; its files in ``scratch`` unless running as root."""
    server = start(scratch)
    try:
        yield server
    finally:
        server.stop()


def start(scratch: Path) -> PostgresServer:
    if os.geteuid() == 0:
        _ensure_os_user()
        # pytest's tmp_path is under a 0700 directory of root's, which the server's user cannot enter
        remove = Path(tempfile.mkdtemp(prefix="sfacton-pg-"))
        remove.chmod(0o755)
        bin_dir = _copy_bundle(remove)
        home = remove / "server"
        home.mkdir(mode=0o700)
        entry = pwd.getpwnam(OS_USER)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    else:
        remove = None
        bin_dir = _BUNDLE / "pginstall" / "bin"
        home = scratch / "postgres"
        home.mkdir(mode=0o700, parents=True)
    # a password with characters a connection URL must escape, as a real one may have
    password = secrets.token_urlsafe(16) + "@:%"
    port = _free_port()
    # fsync off: a test server's data need not survive a power cut
    options = f"-h 127.0.0.1 -p {port} -k {home} -c fsync=off -c synchronous_commit=off"
    try:
        # the password reaches initdb on a file only the server's user reads, removed once read
        pwfile = home / "pwfile"
        pwfile.touch(mode=0o600)
        pwfile.write_text(password + "\n")
        if remove:
            entry = pwd.getpwnam(OS_USER)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                "data",
                "-U",
                SUPERUSER,
                "--pwfile=pwfile",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
            home,
        )
        pwfile.unlink()
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                "data",
                "-l",
                "server.log",
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ],
            home,
        )
    except subprocess.CalledProcessError as err:
        log = home / "server.log"
        detail = log.read_text()[-3000:] if log.exists() else ""
        if remove:
            shutil.rmtree(remove, ignore_errors=True)
        raise RuntimeError(f"Postgres did not start: {err.stderr or err}\n{detail}") from err
    return PostgresServer(home, port, password, bin_dir, remove)


def _ensure_os_user() -> None:
    try:
        pwd.getpwnam(OS_USER)
        return
    except KeyError:
        pass
    # another worker may create it at the same moment: whoever loses finds it there
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
        capture_output=True,
        check=False,
    )
    pwd.getpwnam(OS_USER)


def _copy_bundle(root: Path) -> Path:
    """The wheel's server and its libraries, laid out as in the wheel (initdb and psql find libpq through an
    rpath relative to their own directory)."""
    shutil.copytree(_BUNDLE / "pginstall", root / "pgserver" / "pginstall", symlinks=True)
    libs = _BUNDLE.parent / "pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, root / "pgserver.libs", symlinks=True)
    return root / "pgserver" / "pginstall" / "bin"


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """A server command in ``cwd``, as the server's user when we are root (initdb, pg_ctl and postgres refuse
    root)."""
    kwargs: dict = {}
    if os.geteuid() == 0:
        entry = pwd.getpwnam(OS_USER)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    subprocess.run(
        command,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", **(env or {})},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
