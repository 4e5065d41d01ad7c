#!/usr/bin/env bash
# The whole test suite: lint, type check, then every test. Sets up .venv/ first if needed.
#   ./test.sh [PYTEST ARGS...]          everything (PostgreSQL, dag.test() runs); arguments go
#                                       to pytest, e.g. ./test.sh -x tests/integration
#   ./test.sh --fast [PYTEST ARGS...]   lint, types and the unit tests only (tests/unit): no
#                                       PostgreSQL, no Debian packages, no Airflow runs; < 1 min
set -euo pipefail
cd "$(dirname "$0")"
fast=""
if [[ "${1:-}" == "--fast" ]]; then
  fast=1
  shift
fi
scripts/setup-venv.sh
echo "==> ruff (lint and format check)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy (engine package, strict)"
.venv/bin/mypy
if [[ -n "$fast" ]]; then
  echo "==> pytest (unit tests only)"
  exec .venv/bin/pytest tests/unit "$@"
fi
if [[ -z "${STATCLOCK_TEST_POSTGRES_URL:-}" && -z "${STATCLOCK_SKIP_POSTGRES:-}" ]]; then
  echo "==> PostgreSQL for the tests"
  STATCLOCK_TEST_POSTGRES_URL="$(scripts/test-postgres.sh)"
  export STATCLOCK_TEST_POSTGRES_URL
fi
# poppler-utils: the board pack tests look at every PDF page. libharfbuzz-subset0: WeasyPrint
# subsets fonts with it (with fontTools instead, every PDF takes noticeably longer).
if ! command -v pdftoppm >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> Installing poppler-utils and libharfbuzz-subset0 (Debian)"
    packages=(poppler-utils libharfbuzz-subset0)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null; }
  fi
fi
# Chromium (Debian) and axe-core (npm) for the browser tests in tests/e2e.
scripts/e2e-deps.sh
# docker-compose (Debian) for the compose file's checks in tests/deploy.
scripts/compose-deps.sh
# redis-server (Debian) for the CeleryExecutor topology in tests/topology.
scripts/topology-deps.sh
echo "==> pytest"
.venv/bin/pytest "$@"
