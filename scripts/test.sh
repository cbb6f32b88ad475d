#!/usr/bin/env bash
# The test command: ruff, the docs site (mkdocs build --strict), then pytest. Browser and
# PostgreSQL tests run when their parts are present (scripts/ci-services.sh installs them in
# CI) and skip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
VPY=${VENV:-.venv}/bin/python
"$VPY" -m ruff check .
# the site is built into a temporary folder: a broken link or reference fails the build
SITE=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 "$VPY" -m mkdocs build --strict --quiet -d "$SITE"
rm -rf "$SITE"
mkdir -p artifacts
"$VPY" -m pytest -q --durations=15 "$@"
