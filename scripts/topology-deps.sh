#!/usr/bin/env bash
# What the topology tests (tests/topology) need besides .venv and PostgreSQL
# (scripts/test-postgres.sh): Debian's redis-server, the Celery broker of the CeleryExecutor
# topology (the compose `celery` profile's redis:7.2 container, natively).
# Idempotent and quiet when it is there. Needs root for apt-get; without it, it says what is
# missing and the CeleryExecutor tests fail (the LocalExecutor ones still run).
set -euo pipefail

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> Installing redis-server (Debian) for the CeleryExecutor topology tests"
    apt_install redis-server
    # The package starts a system-wide server on 6379; the tests start their own on a free
    # port, so the system one is not needed (and may not run in a container without systemd).
  else
    echo "topology-deps: redis-server is missing (apt-get install redis-server);" \
         "the CeleryExecutor topology tests will fail" >&2
  fi
fi
