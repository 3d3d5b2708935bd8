"""The lineage of a Lead's score in the Dagster UI, in headless Chromium after the demo's run: the real
`dagster-webserver` on the demo's instance, each asset of the path from the Lead extract to the score push opened
as a person would and linking to the next, the path's lineage graph and the last `sync_job` run shown with no
error; screenshots kept. The edges are also asked of the UI's own GraphQL endpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

import pytest

from tests.browser.chromium import Page, artefact, browser, chromium_or_skip, stop
from tests.demo_world import ROOT, Demo

pytestmark = pytest.mark.browser

# A Lead's score, node by node: the extract, its staging model, the person spine of every Salesforce record (which
# int_people_identified and the score diff read), the diff, the push
PATH = (
    "raw_salesforce/lead",
    "staging/stg_salesforce__leads",
    "intermediate/int_salesforce_records_unioned",
    "sync/salesforce_score_updates",
    "salesforce_score_push",
)
# What the UI shows when a page or a query fails
ERROR_BANNERS = (
    "Unexpected GraphQL error",
    "An error occurred",
    "Something went wrong",
    "Error loading",
    "PythonError",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """dagster-webserver on the demo's instance and environment, as `make dev` serves it."""
    port = free_port()
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    command = [str(Path(sys.executable).with_name("dagster-webserver")), "-m", "orchestration.definitions"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env={**os.environ, **demo.env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urlopen(f"{url}/server_info", timeout=5):
                    break
            except (URLError, ConnectionError):
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
        yield url
    finally:
        stop(process, grace=30)


def graphql(url: str, query: str) -> dict[str, Any]:
    request = Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urlopen(request, timeout=60) as answer:
        body = json.load(answer)
    assert "errors" not in body, body["errors"]
    return body["data"]


def open_page(page: Page, url: str, ready: str, screenshot: str, show: str | None = None) -> str:
    """Load a page of the React app, wait for what it renders last, put away the first-visit newsletter dialog (a
    person would click Skip), scroll to the element ``show`` selects, keep the screenshot; its text, checked for
    error banners and console errors."""
    page.goto(url)
    page.wait_for(ready, timeout=90)
    page.evaluate(
        "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Skip')?.click()"
    )
    if show:
        page.evaluate(f"document.querySelector({json.dumps(show)}).scrollIntoView({{block: 'center'}})")
    time.sleep(1)  # the dialog's closing animation, and the graph's layout settling
    page.screenshot(artefact(screenshot), full_page=False)
    text = page.text()
    assert not [banner for banner in ERROR_BANNERS if banner in text], text[:3000]
    assert not page.errors, page.errors
    return text


def links_to(key: str) -> str:
    """A JavaScript test: the page links to this asset's own page (the full key is in the link, where the graph's
    labels may be cut short)."""
    return f"[...document.querySelectorAll('a')].some(a => a.getAttribute('href') === {json.dumps('/assets/' + key)})"


def test_the_path_of_a_lead_score_in_the_dagster_ui(webserver: str) -> None:
    executable = chromium_or_skip()
    nodes = graphql(webserver, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")["assetNodes"]
    upstream = {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes
    }
    for source, target in pairwise(PATH):
        assert source in upstream[target], f"{source} -> {target}"
    (run,) = graphql(
        webserver,
        '{ runsOrError(filter: {pipelineName: "sync_job"}, limit: 1) { ... on Runs { results { runId status stepStats { stepKey status } } } } }',
    )["runsOrError"]["results"]
    steps = {step["stepKey"]: step["status"] for step in run["stepStats"]}
    assert run["status"] == "SUCCESS" and steps["salesforce_score_push"] == "SUCCESS"
    succeeded = sum(status == "SUCCESS" for status in steps.values())

    with browser(executable) as page:
        # each asset's page, in path order, links to the next one downstream and to the one before it
        for i, key in enumerate(PATH):
            ready = " && ".join(
                links_to(k)
                for k in (PATH[i - 1] if i else None, PATH[i + 1] if i + 1 < len(PATH) else None)
                if k
            )
            downstream = f'a[href="/assets/{PATH[i + 1]}"]' if i + 1 < len(PATH) else None
            shot = f"lineage-{i + 1}-{key.replace('/', '__')}.png"
            text = open_page(page, f"{webserver}/assets/{key}", ready, shot, downstream)
            assert key.split("/")[-1] in text
        # the score push's upstream graph down to the Lead extract (4 hops), every node of the path drawn
        open_page(
            page,
            f"{webserver}/assets/{PATH[-1]}?view=lineage&lineageScope=upstream&lineageDepth={len(PATH) - 1}",
            "document.querySelectorAll('svg path').length > 20 && document.body.innerText.includes('lead')",
            "lineage-graph.png",
        )
        # the last sync_job run: finished, every step succeeded, none errored
        text = open_page(
            page,
            f"{webserver}/runs/{run['runId']}",
            f"document.body.innerText.includes('Succeeded ({succeeded})')",
            "lineage-run.png",
        )
        assert run["runId"].split("-")[0] in text and "Errored (0)" in text
