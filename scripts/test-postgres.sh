#!/usr/bin/env bash
# Make sure a real PostgreSQL server is running for the tests, and print its URL on stdout.
#   - STATCLOCK_TEST_POSTGRES_URL already set: use it as it is.
#   - otherwise: install Debian's postgresql if missing (as root), start the cluster, create
#     the roles `statclock` (owner: creates and migrates the tests' databases) and
#     `statclock_app` (the application's role), and the database `statclock_test`.
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
# The application's role for the tests: no CREATEDB, owns nothing; the tests' databases are
# made and migrated by `statclock` (the owner) and this role is granted what the product needs.
as_postgres psql -p "$port" -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'statclock_app'" | grep -q 1 ||
  as_postgres psql -p "$port" -qc "CREATE ROLE statclock_app LOGIN PASSWORD 'statclock_app'" >&2
# Membership lets the owner end the application role's sessions when it drops a test database.
as_postgres psql -p "$port" -qc "GRANT statclock_app TO statclock" >&2 2>/dev/null || true
as_postgres psql -p "$port" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'statclock_test'" | grep -q 1 ||
  as_postgres psql -p "$port" -qc "CREATE DATABASE statclock_test OWNER statclock" >&2

echo "postgresql+psycopg://statclock:statclock@127.0.0.1:${port}/statclock_test"
