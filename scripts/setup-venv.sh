#!/usr/bin/env bash
# Create .venv/ at the repository root and install the pinned requirements into it.
# Idempotent: it reinstalls only when requirements*.txt, constraints.txt or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
if [[ -z "$python_bin" ]]; then
  echo "statclock needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "==> Creating .venv with $("$python_bin" --version)"
  "$python_bin" -m venv .venv
fi

wanted="$(cat requirements.txt requirements-dev.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
stamp=.venv/.statclock-installed
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  echo "==> Installing pinned requirements into .venv (first time: about two minutes)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -r requirements.txt -r requirements-dev.txt -c constraints.txt -e .
  echo "$wanted" > "$stamp"
fi

# The programme manager's page: GOV.UK Frontend, pinned, bundled into the plugin's static files
# (quick when already built).
scripts/build-static.sh
