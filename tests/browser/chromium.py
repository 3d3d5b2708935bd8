"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol: load a page, read its DOM text,
collect console errors and uncaught exceptions, take a screenshot. The protocol over a websocket is all a test
needs here, so no browser-automation package (and none of their browser downloads) is involved."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from websockets.sync.client import ClientConnection, connect

EXECUTABLE = "chromium"
INSTALL = Path(__file__).with_name("install_chromium.sh")
# The closed network refuses what Chromium fetches by itself; without these flags it logs connection errors
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)
ARTEFACTS = Path(__file__).resolve().parents[2] / ".data" / "test-artifacts"


def chromium_or_skip() -> str:
    """The browser's path. Missing it fails under CI (CI=true: the setup installs it) and skips elsewhere."""
    path = shutil.which(EXECUTABLE)
    if path:
        return path
    message = f"{EXECUTABLE} is not installed: run {INSTALL.relative_to(INSTALL.parents[2])} as root"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def artefact(name: str) -> Path:
    """Where a test keeps a screenshot: .data/test-artifacts/<name>, its path printed for whoever reads the log."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / name
    print(f"screenshot: {path}")
    return path


class Page:
    """One tab: commands answered in order, events kept to be asked about (console errors)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.errors: list[str] = []
        self.requests: list[str] = []  # every URL the page asked for (Network.enable)

    def send(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        call = next(self.ids)
        self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(f"{params['entry'].get('url', '')} {params['entry'].get('text', '')}".strip())

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll a JavaScript expression until it is truthy (a React page renders after it loaded)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {expression}")
            time.sleep(0.25)

    def text(self, selector: str = "body") -> str:
        return self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")

    def table(self, selector: str) -> list[list[str]]:
        """The body rows of a table as the reader sees them: each cell's text."""
        return self.evaluate(
            f"[...document.querySelectorAll({json.dumps(selector + ' tbody tr')})]"
            ".map(r => [...r.cells].map(c => c.innerText.trim()))"
        )

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            width, height = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params |= {
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            }
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))
        return path


@contextmanager
def browser(executable: str) -> Iterator[Page]:
    """A fresh headless Chromium with an empty profile, and one tab listening for console errors."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    process = subprocess.Popen(
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit {process.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            tab = next(t for t in json.load(answer) if t["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                page.send(f"{domain}.enable")
            yield page
    finally:
        stop(process)
        shutil.rmtree(profile, ignore_errors=True)


def stop(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Terminate a process this test started, killed when it does not stop within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
