#!/usr/bin/env bash
# Prove the production topology of docker-compose.yml natively, without Docker: runs the
# topology tests (tests/topology), which start the compose stack's services as native processes
# on free ports, for the LocalExecutor and then the CeleryExecutor profile (Redis and two
# `airflow celery worker` processes), and check through the REST API v2 that a council
# registered there gets its clock, its reminder email and its board pack. Every process they
# start is stopped and both databases are dropped however they end. ./test.sh runs the same tests.
#
# Usage: scripts/prove-topology.sh [pytest arguments]
#   scripts/prove-topology.sh                 both executors
#   scripts/prove-topology.sh -k local        the LocalExecutor topology only (-k celery: Celery)
#   STATCLOCK_TOPOLOGY_TIMEOUT=180            seconds allowed for each wait (health, each DAG run)
#   STATCLOCK_TEST_POSTGRES_URL               use this PostgreSQL server (its role needs
#                                             CREATEDB) instead of the local one that
#                                             scripts/test-postgres.sh starts
# Each topology's logs stay in pytest's temporary directory (the last three sessions are kept);
# the tests print where, with the time each start-up step took. Exit status 0 only on PASS.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/airflow || ! -x .venv/bin/statclock ]]; then
  echo "==> Setting up .venv (scripts/setup-venv.sh)" >&2
  scripts/setup-venv.sh >&2
fi
STATCLOCK_TEST_POSTGRES_URL="$(scripts/test-postgres.sh)"
export STATCLOCK_TEST_POSTGRES_URL
scripts/topology-deps.sh
PYTHONPATH="$PWD/include${PYTHONPATH:+:$PYTHONPATH}" \
  exec .venv/bin/pytest tests/topology -p no:cacheprovider -rA -s "$@"
