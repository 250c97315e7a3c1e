#!/usr/bin/env bash
# Sets up and starts the SPARQL endpoint on the bundled graph (http://127.0.0.1:5000/).
# Extra arguments go to `bpkg serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/bpkg serve "$@"
