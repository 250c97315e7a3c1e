#!/usr/bin/env bash
# Sets up everything (including test tools) and runs the whole test suite.
# Extra arguments go to pytest (e.g. -k sparql).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
