#!/usr/bin/env bash
# The whole test suite: lint, type check, then every test. Sets up .venv/ first if needed.
#   ./test.sh                           everything (PostgreSQL, dag.test() runs, the browser, the
#                                       topology tier beside the rest)
#   ./test.sh PYTEST ARGS...            lint, types, then one pytest with these arguments,
#                                       e.g. ./test.sh -x tests/integration
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
if [[ $# -gt 0 ]]; then
  echo "==> pytest $*"
  exec .venv/bin/pytest "$@"
fi
# The topology tier (tests/topology: the production topology, then the fault tests, which spend
# most of their time waiting, e.g. 5 minutes of a refusing mail relay) runs beside the rest: it
# has its own PostgreSQL server, relay and ports, so the two share nothing but the CPU.
mkdir -p var
topology_log=var/topology-tier.log
echo "==> pytest -m topology (beside the rest; its output: $topology_log)"
.venv/bin/pytest -m topology -p no:cacheprovider >"$topology_log" 2>&1 &
topology_pid=$!
trap 'kill "$topology_pid" 2>/dev/null || true' EXIT
echo "==> pytest -m 'not topology'"
rest=0
.venv/bin/pytest -m "not topology" || rest=$?
topology=0
wait "$topology_pid" || topology=$?
trap - EXIT
echo "==> the topology tier ($topology_log):"
tail -n 40 "$topology_log"
if [[ $rest -ne 0 || $topology -ne 0 ]]; then
  echo "test.sh: failed (pytest exit status: the rest $rest, the topology tier $topology)" >&2
  exit 1
fi
