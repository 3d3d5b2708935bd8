#!/bin/sh
# Headless Chromium for the browser tests (pytest -m browser): Debian's `chromium` package, installed only when
# missing. apt-get needs root: CI runs as root (CI=true) and must get it; elsewhere, without root, this says how
# and the browser tests skip with the same reason.
set -eu
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing: sudo $0 installs it (the browser tests skip without it)" >&2
    [ "${CI:-}" = "true" ] && exit 1
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
