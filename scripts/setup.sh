#!/usr/bin/env bash
# Installs everything bpkg needs into .venv (and node_modules/ for the query UI).
# Usage: scripts/setup.sh [--test]   (--test adds the test tools: pytest, chromium, the W3C runner)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install --quiet -e '.[test,sssom,analysis]'
else
    .venv/bin/python -m pip install --quiet -e .
fi

# The query UI (YASGUI) and the W3C protocol test runner come from the npm registry.
if [ -f package.json ] && command -v npm >/dev/null 2>&1; then
    if [ -f package-lock.json ]; then
        npm ci --silent --no-audit --no-fund >/dev/null        # exactly the locked versions
    else
        npm install --silent --no-audit --no-fund >/dev/null
    fi
fi

# Browser tests drive Debian's Chromium; install it when we may (root, apt available).
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
            || echo "setup: could not install chromium; browser tests will be skipped" >&2
    else
        echo "setup: chromium not found and not root; browser tests will be skipped" >&2
    fi
fi

# The external-store tests also run against Virtuoso. Only its binaries package: the
# `virtuoso-opensource` metapackage would start a system-wide server with default passwords.
if [ "${1:-}" = "--test" ] && ! command -v virtuoso-t >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            virtuoso-opensource-7-bin >/dev/null) \
            || echo "setup: could not install virtuoso; its external-store tests will be skipped" >&2
    else
        echo "setup: virtuoso-t not found and not root; its external-store tests will be skipped" >&2
    fi
fi
