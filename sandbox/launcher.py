"""Start `python -m sandbox serve` in a subprocess and talk to its admin API (tests, benchmarks, demo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


@dataclass
class Sandbox:
    data_dir: Path
    proc: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

    def admin(self, system: str, method: str, path: str, json: Any = None) -> Any:
        base = self.env["SALESFORCE_SANDBOX_URL" if system == "salesforce" else "ACTON_SANDBOX_URL"]
        r = requests.request(
            method,
            f"{base}/{path.lstrip('/')}",
            json=json,
            headers={"Authorization": f"Bearer {self.env['SANDBOX_ADMIN_TOKEN']}"},
            verify=self.env["REQUESTS_CA_BUNDLE"],
            timeout=600,
        )
        r.raise_for_status()
        return r.json()

    def simulate(self, hours: int = 1, churn: float | None = None) -> Any:
        body: dict[str, Any] = {"hours": hours}
        if churn is not None:
            body["churn"] = churn
        return self.admin("salesforce", "POST", "simulate", body)

    def faults(self, system: str, rules: list[dict[str, Any]]) -> Any:
        return self.admin(system, "POST", "faults", {"rules": rules})

    def mutate(self, system: str, ops: list[dict[str, Any]]) -> Any:
        """Changes the world as its users or admins would (sandbox/admin/mutate.py's ops)."""
        return self.admin(system, "POST", "mutate", {"ops": ops})

    def clear_faults(self) -> None:
        for system in ("salesforce", "acton"):
            self.admin(system, "DELETE", "faults")

    def stats(self, system: str) -> dict[str, Any]:
        return self.admin(system, "GET", "stats")["calls"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(
    data_dir: Path,
    scale: int = 300,
    seed: int = 1,
    timeout: float = 600,
    quiet: bool = True,
    bare_org: bool = False,
) -> Sandbox:
    """Start a sandbox and wait until its ``sandbox.env`` appears (the server writes it once both listen);
    ``bare_org`` as ``serve --bare-org``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env_path = data_dir / "sandbox.env"
    env_path.unlink(missing_ok=True)
    log = open(data_dir / "sandbox.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--data-dir",
            str(data_dir),
            "--scale",
            str(scale),
            "--seed",
            str(seed),
            *(["--bare-org"] if bare_org else []),
        ],
        stdout=log if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    sandbox = Sandbox(data_dir, proc)
    deadline = time.monotonic() + timeout
    while not env_path.exists():
        if proc.poll() is not None:
            tail = (data_dir / "sandbox.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"sandbox exited with {proc.returncode} before it was ready:\n{tail}")
        if time.monotonic() > deadline:
            sandbox.stop()
            raise TimeoutError(f"sandbox not ready after {timeout}s (see {data_dir / 'sandbox.log'})")
        time.sleep(0.1)
    sandbox.env = read_env(env_path)
    return sandbox
