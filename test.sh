#!/usr/bin/env bash
# The whole test suite: lint, type check, then every test. Sets up .venv/ first if needed.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-venv.sh
echo "==> ruff (lint and format check)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy (engine package, strict)"
.venv/bin/mypy
echo "==> pytest"
.venv/bin/pytest "$@"
