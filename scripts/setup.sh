#!/usr/bin/env bash
# Creates .venv (or reuses it) and installs FME Studio into it.
# A torch that the base interpreter already has (a GPU user's CUDA build) is kept:
# the venv sees the base site-packages, and torch==2.13.0 (CPU) is installed only
# where no torch imports at all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
extras=${1:-}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$VENV"
fi
VPY="$VENV/bin/python"
stamp="$VENV/.fme-installed${extras:+-$extras}"

if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: no torch found; installing the CPU build torch==2.13.0"
  "$VPY" -m pip install -q "torch==2.13.0"
else
  echo "setup: keeping torch $("$VPY" -c 'import torch; print(torch.__version__)')"
fi

if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  "$VPY" -m pip install -q -e "$spec"
  touch "$stamp"
fi
echo "setup: ready ($VPY)"
