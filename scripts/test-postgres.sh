#!/usr/bin/env bash
# Make sure a real PostgreSQL server is running for the tests, and print its URL on stdout.
#   - STATCLOCK_TEST_POSTGRES_URL already set: use it as it is.
#   - otherwise: install Debian's postgresql if missing (as root), start the cluster, create
#     the role and database `statclock` / `statclock_test`.
# Progress goes to stderr so that `url=$(scripts/test-postgres.sh)` captures only the URL.
set -euo pipefail

if [[ -n "${STATCLOCK_TEST_POSTGRES_URL:-}" ]]; then
  echo "$STATCLOCK_TEST_POSTGRES_URL"; exit 0
fi
say() { echo "==> $*" >&2; }

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "Installing PostgreSQL (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  else
    echo "PostgreSQL is not installed and cannot be installed here (need root and apt-get);" \
         "set STATCLOCK_TEST_POSTGRES_URL to a server you can use" >&2
    exit 1
  fi
fi

version=$(basename "$(dirname "$(dirname "$(ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -1)")")")
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  say "Creating PostgreSQL $version cluster"
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  say "Starting PostgreSQL $version"
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')

as_postgres() { runuser -u postgres -- "$@"; }
as_postgres psql -p "$port" -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'statclock'" | grep -q 1 ||
  as_postgres psql -p "$port" -qc "CREATE ROLE statclock LOGIN CREATEDB PASSWORD 'statclock'" >&2
as_postgres psql -p "$port" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'statclock_test'" | grep -q 1 ||
  as_postgres psql -p "$port" -qc "CREATE DATABASE statclock_test OWNER statclock" >&2

echo "postgresql+psycopg://statclock:statclock@127.0.0.1:${port}/statclock_test"
