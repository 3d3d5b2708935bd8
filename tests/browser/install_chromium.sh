#!/bin/sh
# Headless Chromium for the browser tests (pytest -m browser): Debian's package, installed only when missing.
# Needs root (CI runs as root); a developer without it runs `sudo tests/browser/install_chromium.sh`.
set -eu
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
