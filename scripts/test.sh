#!/usr/bin/env bash
# The test command: ruff, then pytest. Browser and PostgreSQL tests run when their
# parts are present (scripts/ci-services.sh installs them in CI) and skip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
VPY=${VENV:-.venv}/bin/python
"$VPY" -m ruff check .
mkdir -p artifacts
"$VPY" -m pytest -q --durations=15 "$@"
