"""A client that is not Python trusts the sandbox through its CA file alone."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from sandbox.launcher import Sandbox


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
def test_curl_with_the_sandbox_ca_reaches_both_servers(sandbox: Sandbox) -> None:
    ca = sandbox.env["REQUESTS_CA_BUNDLE"]
    versions = subprocess.run(
        [
            "curl",
            "--silent",
            "--fail",
            "--cacert",
            ca,
            f"{sandbox.env['SALESFORCE_LOGIN_URL']}/services/data/",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert any(v["url"].startswith("/services/data/v") for v in json.loads(versions.stdout))
    token = subprocess.run(
        ["curl", "--silent", "--cacert", ca, "-X", "POST", f"{sandbox.env['ACTON_BASE_URL']}/token"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert "error" in json.loads(token.stdout)  # answered over TLS: no grant given
    untrusted = subprocess.run(
        ["curl", "--silent", f"{sandbox.env['SALESFORCE_LOGIN_URL']}/services/data/"],
        capture_output=True,
        timeout=30,
    )
    assert (
        untrusted.returncode == 60
    )  # curl: peer certificate cannot be authenticated with known CA certificates
