#!/usr/bin/env bash
# Prove the production-shaped topology of docker-compose.yml natively, without Docker.
#
# The same shape as the compose stack, one process per container:
#   PostgreSQL            one server, two fresh databases (Airflow's metadata, the case register)
#   mail catcher          devtools/mailcatcher.py, standing in for Mailpit
#   airflow api-server    its own process, on a free port (execution API URL set to match)
#   airflow scheduler     LocalExecutor (tasks run here, as in the compose scheduler container)
#   airflow dag-processor
#   airflow triggerer
# Then, through the REST API v2 with a JWT from the simple auth manager:
#   register a fictional council with the register_inspection DAG and wait for it to succeed;
#   (a) the case is in the register (statclock case show);
#   (b) the statutory_clock DAG ran because of the register's asset event (asset_triggered run
#       whose upstream asset event came from that registration) and succeeded;
#   (c) a reminders run, triggered through the API, emailed the mail catcher.
#
# Usage: scripts/prove-topology.sh
#   PROVE_TIMEOUT=180         seconds allowed for each wait (health, parsing, each DAG run)
#   PROVE_KEEP=1              keep the temporary directory (logs, AIRFLOW_HOME, mail) even on PASS
#   STATCLOCK_TEST_POSTGRES_URL  use this PostgreSQL server (its role needs CREATEDB) instead of
#                             the local one that scripts/test-postgres.sh starts
# Progress goes to stderr; the PASS/FAIL summary to stdout. Exit status 0 only on PASS.
# Every process this script starts is stopped, and both databases dropped, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

TIMEOUT="${PROVE_TIMEOUT:-180}"
AIRFLOW_DB=statclock_topology_airflow
REGISTER_DB=statclock_topology_register
STARTED_AT=$(date +%s)
STARTED_HUMAN=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

say() { printf '==> [%4ss] %s\n' "$(($(date +%s) - STARTED_AT))" "$*" >&2; }

if [[ ! -x "$ROOT/.venv/bin/airflow" || ! -x "$ROOT/.venv/bin/statclock" ]]; then
  say "Setting up .venv (scripts/setup-venv.sh)"
  scripts/setup-venv.sh >&2
fi
export PATH="$ROOT/.venv/bin:$PATH"
PY="$ROOT/.venv/bin/python"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/statclock-topology.XXXXXX")
mkdir -p "$WORK/logs" "$WORK/mail" "$WORK/airflow" "$WORK/run"

# --- bookkeeping: steps, checks, processes ---------------------------------------------------
declare -a STEP_LINES=() CHECK_LINES=() PROC_NAMES=()
declare -A PROC_PIDS=()
FAILED=0
DBS_CREATED=0
PG_STARTED_HERE=""
STEP_NAME=""
STEP_T0=0

step() { STEP_NAME="$1"; STEP_T0=$(date +%s); say "$1"; }
step_done() {
  STEP_LINES+=("$(printf '%-58s %4ss' "$STEP_NAME" "$(($(date +%s) - STEP_T0))")")
}
check() {  # check NAME PASS|FAIL DETAIL
  CHECK_LINES+=("$(printf '%-4s %s: %s' "$2" "$1" "$3")")
  if [[ "$2" != PASS ]]; then FAILED=1; fi
}

start_process() {  # start_process NAME COMMAND...: own session (process group), log in $WORK/logs
  local name="$1"; shift
  # setsid gives the process a process group of its own (it is not a group leader here, so
  # setsid execs in place and $! is the command's pid and group id); stopping the group stops
  # every child it spawned (executor workers, log servers, uvicorn workers).
  (cd "$WORK/run" && exec setsid "$@" >"$WORK/logs/$name.log" 2>&1 </dev/null) &
  PROC_PIDS[$name]=$!
  PROC_NAMES+=("$name")
  say "Started $name (pid ${PROC_PIDS[$name]}, log $WORK/logs/$name.log)"
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

stop_processes() {
  # One at a time, in reverse order of start: the triggerer, dag-processor and scheduler first
  # (the scheduler waits for its running tasks, which still need the execution API), then the
  # api-server, then the mail catcher. SIGTERM to the process group; SIGKILL after 30 s.
  local i name pid
  for ((i = ${#PROC_NAMES[@]} - 1; i >= 0; i--)); do
    name="${PROC_NAMES[$i]}"; pid="${PROC_PIDS[$name]}"
    if group_alive "$pid"; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do group_alive "$pid" || break; sleep 0.5; done
      if group_alive "$pid"; then
        say "$name (process group $pid) still running 30 s after SIGTERM: sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
    fi
    wait "$pid" 2>/dev/null || true
  done
}

show_log_tails() {
  local name
  for name in "${PROC_NAMES[@]}"; do
    echo "----- last 25 lines of $WORK/logs/$name.log -----" >&2
    tail -n 25 "$WORK/logs/$name.log" >&2 || true
  done
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [[ $status -ne 0 && $FAILED -eq 0 ]]; then FAILED=1; fi
  if [[ $FAILED -ne 0 && ${#PROC_NAMES[@]} -gt 0 ]]; then show_log_tails; fi
  if [[ ${#PROC_NAMES[@]} -gt 0 ]]; then
    say "Stopping every process this script started (last started, first stopped)"
    stop_processes
  fi
  if [[ $DBS_CREATED -eq 1 ]]; then
    say "Dropping databases $AIRFLOW_DB and $REGISTER_DB"
    pg_admin "DROP DATABASE IF EXISTS $AIRFLOW_DB WITH (FORCE)" \
             "DROP DATABASE IF EXISTS $REGISTER_DB WITH (FORCE)" ||
      say "WARNING: could not drop the databases; drop $AIRFLOW_DB and $REGISTER_DB by hand"
  fi
  if [[ -n "$PG_STARTED_HERE" ]]; then
    say "Stopping the PostgreSQL cluster this script started ($PG_STARTED_HERE)"
    # shellcheck disable=SC2086
    pg_ctlcluster $PG_STARTED_HERE stop >&2 || true
  fi
  local total=$(($(date +%s) - STARTED_AT))
  {
    echo
    echo "statclock topology proof, started $STARTED_HUMAN"
    echo "Timings:"
    for line in "${STEP_LINES[@]}"; do echo "  $line"; done
    echo "Checks:"
    if [[ ${#CHECK_LINES[@]} -eq 0 ]]; then echo "  (none reached)"; fi
    for line in "${CHECK_LINES[@]}"; do echo "  $line"; done
    if [[ $FAILED -eq 0 ]]; then
      echo "RESULT: PASS in ${total}s"
    else
      echo "RESULT: FAIL after ${total}s (logs, AIRFLOW_HOME and mail kept in $WORK)"
    fi
  }
  if [[ $FAILED -eq 0 && -z "${PROVE_KEEP:-}" ]]; then
    rm -rf "$WORK"
  elif [[ $FAILED -eq 0 ]]; then
    say "Kept $WORK (PROVE_KEEP is set)"
  fi
  if [[ $FAILED -ne 0 ]]; then exit 1; fi
  exit 0
}
trap cleanup EXIT
trap 'say "Interrupted"; FAILED=1; exit 130' INT
trap 'say "Terminated"; FAILED=1; exit 143' TERM

die() { say "FAILED: $*"; FAILED=1; exit 1; }

# --- the REST API client and other helpers (Python: JSON, HTTP, dates) -----------------------
cat >"$WORK/prove.py" <<'PY'
"""Helpers for scripts/prove-topology.sh: REST API v2 calls, waits, the register's dates."""
import datetime as dt
import email
import email.policy
import json
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def say(message):
    print(f"    {message}", file=sys.stderr, flush=True)


def http(method, url, token=None, body=None, form=False):
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def free_ports(count):
    sockets = [socket.socket() for _ in range(int(count))]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        print(" ".join(str(s.getsockname()[1]) for s in sockets))
    finally:
        for s in sockets:
            s.close()


def wait_health(api, timeout):
    """Wait until /api/v2/monitor/health reports every component healthy."""
    deadline = time.monotonic() + float(timeout)
    last = None
    while time.monotonic() < deadline:
        try:
            status, body = http("GET", f"{api}/api/v2/monitor/health")
        except OSError as error:
            last = f"not answering ({error})"
        else:
            if status == 200 and isinstance(body, dict):
                states = {k: (v or {}).get("status") for k, v in body.items()}
                last = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
                wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                if all(states.get(k) == "healthy" for k in wanted):
                    print(last)
                    return 0
            else:
                last = f"HTTP {status}: {body}"
        time.sleep(2)
    say(f"not healthy within {timeout} s; last answer: {last}")
    return 1


def wait_url(url, timeout):
    deadline = time.monotonic() + float(timeout)
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                print(f"HTTP {response.status} {response.read().decode()[:200]}")
                return 0
        except (OSError, urllib.error.HTTPError) as error:
            last = error
        time.sleep(2)
    say(f"{url} did not answer 200 within {timeout} s: {last}")
    return 1


def token(api, username, password):
    """The simple auth manager's token endpoint: POST /auth/token {username, password}."""
    status, body = http("POST", f"{api}/auth/token", body={"username": username, "password": password})
    if status != 201 or not isinstance(body, dict) or "access_token" not in body:
        say(f"POST /auth/token: HTTP {status}: {body}")
        return 1
    print(body["access_token"])
    return 0


def expect_status(method, url, expected, token_value=""):
    status, body = http(method, url, token=token_value or None)
    print(f"HTTP {status}")
    return 0 if str(status) == str(expected) else 1


def wait_dags(api, token_value, timeout, *dag_ids):
    """Wait until the dag-processor has parsed each DAG and it is unpaused."""
    deadline = time.monotonic() + float(timeout)
    missing = list(dag_ids)
    while time.monotonic() < deadline:
        missing = []
        for dag_id in dag_ids:
            status, body = http("GET", f"{api}/api/v2/dags/{dag_id}", token=token_value)
            if status != 200 or body.get("is_paused"):
                missing.append(f"{dag_id} (HTTP {status}{', paused' if status == 200 else ''})")
        if not missing:
            status, body = http("GET", f"{api}/api/v2/importErrors", token=token_value)
            errors = body.get("total_entries", "?") if isinstance(body, dict) else body
            print(f"{len(dag_ids)} DAGs parsed and unpaused; import errors: {errors}")
            return 0 if errors == 0 else 2
        time.sleep(2)
    say(f"not parsed within {timeout} s: {', '.join(missing)}")
    status, body = http("GET", f"{api}/api/v2/importErrors", token=token_value)
    say(f"import errors: {json.dumps(body)[:2000]}")
    return 1


def dates():
    """Print: as-of working day of the latest 07:30 slot, and a publication date 29 working days
    before it (so publish_report is due the next working day: a '1 working day before' reminder)."""
    from zoneinfo import ZoneInfo

    from statutory_clock.calendar import default_calendar

    calendar = default_calendar()
    now = dt.datetime.now(ZoneInfo("Europe/London"))
    day = now.date()
    if not (calendar.is_working_day(day) and now.time() >= dt.time(7, 30)):
        day = calendar.add_working_days(day, -1)
    print(day.isoformat(), calendar.add_working_days(day, -29).isoformat())
    return 0


def trigger(api, token_value, dag_id, run_id, conf_json):
    body = {
        "dag_run_id": run_id,
        "logical_date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "conf": json.loads(conf_json),
    }
    status, answer = http("POST", f"{api}/api/v2/dags/{dag_id}/dagRuns", token=token_value, body=body)
    if status != 200:
        say(f"POST /api/v2/dags/{dag_id}/dagRuns: HTTP {status}: {answer}")
        return 1
    print(f"{answer['dag_run_id']} state={answer['state']} logical_date={answer['logical_date']}")
    return 0


def show_task_instances(api, token_value, dag_id, run_id):
    base = f"{api}/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    status, body = http("GET", f"{base}/taskInstances", token=token_value)
    for ti in (body or {}).get("task_instances", []) if isinstance(body, dict) else []:
        say(f"  task {ti['task_id']}: {ti['state']} (try {ti.get('try_number')})")
        if ti["state"] in ("failed", "up_for_retry", "upstream_failed") and ti.get("try_number"):
            s, log = http("GET", f"{base}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}",
                          token=token_value)
            text = json.dumps(log) if not isinstance(log, str) else log
            say(f"  log (last 3000 characters): {text[-3000:]}")


def wait_run(api, token_value, dag_id, run_id, timeout):
    deadline = time.monotonic() + float(timeout)
    url = f"{api}/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    state = None
    while time.monotonic() < deadline:
        status, body = http("GET", url, token=token_value)
        state = body.get("state") if status == 200 else f"HTTP {status}"
        if state == "success":
            print(f"{run_id} success (started {body.get('start_date')}, ended {body.get('end_date')})")
            return 0
        if state == "failed":
            say(f"{dag_id} run {run_id} failed")
            show_task_instances(api, token_value, dag_id, run_id)
            return 1
        time.sleep(2)
    say(f"{dag_id} run {run_id} not finished within {timeout} s (state: {state})")
    show_task_instances(api, token_value, dag_id, run_id)
    return 1


def wait_asset_run(api, token_value, dag_id, source_dag_id, source_run_id, timeout):
    """Wait for an asset_triggered run of dag_id, caused by an asset event from the source run,
    to succeed."""
    deadline = time.monotonic() + float(timeout)
    seen = "no asset_triggered run yet"
    while time.monotonic() < deadline:
        status, body = http(
            "GET", f"{api}/api/v2/dags/{dag_id}/dagRuns?run_type=asset_triggered&limit=100",
            token=token_value)
        runs = body.get("dag_runs", []) if status == 200 else []
        for run in runs:
            run_id = run["dag_run_id"]
            s, events = http(
                "GET",
                f"{api}/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
                "/upstreamAssetEvents", token=token_value)
            sources = [
                (e.get("source_dag_id"), e.get("source_run_id"))
                for e in (events or {}).get("asset_events", [])
            ] if s == 200 else []
            if (source_dag_id, source_run_id) not in sources:
                continue
            seen = f"{run_id} is {run['state']}"
            if run["state"] == "success":
                print(f"{run_id} (run_type {run['run_type']}) success, triggered by "
                      f"{source_dag_id}/{source_run_id}")
                return 0
            if run["state"] == "failed":
                say(f"{dag_id} run {run_id} failed")
                show_task_instances(api, token_value, dag_id, run_id)
                return 1
        time.sleep(2)
    say(f"no successful asset_triggered {dag_id} run from {source_run_id} within {timeout} s "
        f"({seen})")
    return 1


def mail(directory, fragment):
    """Count the .eml files, and those whose subject or text mentions fragment."""
    files = sorted(Path(directory).glob("*.eml"))
    matching = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        text = f"{message['Subject']}\n{body.get_content() if body is not None else ''}"
        if fragment in text:
            matching.append(f"{path.name} (To: {message['To']})")
    print(f"{len(files)} {len(matching)}")
    for line in matching[:5]:
        say(f"  {line}")
    return 0


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    sys.exit(globals()[command.replace("-", "_")](*args) or 0)
PY
prove() { "$PY" "$WORK/prove.py" "$@"; }

# --- 1. PostgreSQL: one server, two fresh databases -------------------------------------------
step "PostgreSQL server (scripts/test-postgres.sh)"
if [[ -z "${STATCLOCK_TEST_POSTGRES_URL:-}" ]] && command -v pg_lsclusters >/dev/null; then
  # Remember whether the cluster was already online, so that one started here is stopped again.
  offline=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" && $4 != "online" {print $1" "$2}' | sort -V | tail -1)
fi
ADMIN_URL=$(scripts/test-postgres.sh)
if [[ -n "${offline:-}" ]] && pg_lsclusters -h | awk -v v="${offline%% *}" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  PG_STARTED_HERE="$offline"
fi
db_url() {  # db_url NAME: the admin URL pointed at database NAME
  "$PY" -c 'import sys; from sqlalchemy.engine import make_url
print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' \
    "$ADMIN_URL" "$1"
}
pg_admin() {  # pg_admin SQL...: each statement in autocommit, as the admin URL's role
  "$PY" - "$ADMIN_URL" "$@" <<'PYSQL'
import sys
import psycopg
from sqlalchemy.engine import make_url

url = make_url(sys.argv[1])
with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                     password=url.password, dbname=url.database, autocommit=True) as conn:
    for statement in sys.argv[2:]:
        conn.execute(statement)
PYSQL
}
pg_version=$("$PY" - "$ADMIN_URL" <<'PYSQL'
import sys
import psycopg
from sqlalchemy.engine import make_url
url = make_url(sys.argv[1])
with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                     password=url.password, dbname=url.database) as conn:
    print(conn.execute("SHOW server_version").fetchone()[0])
PYSQL
)
say "PostgreSQL $pg_version at $(db_url "" | sed -E 's#//([^:]+):[^@]*@#//\1:***@#')"
pg_admin "DROP DATABASE IF EXISTS $AIRFLOW_DB WITH (FORCE)" \
         "DROP DATABASE IF EXISTS $REGISTER_DB WITH (FORCE)"
DBS_CREATED=1
pg_admin "CREATE DATABASE $AIRFLOW_DB" "CREATE DATABASE $REGISTER_DB" ||
  die "could not create the databases (the role in the URL needs CREATEDB)"
AIRFLOW_DB_URL=$(db_url "$AIRFLOW_DB")
REGISTER_DB_URL=$(db_url "$REGISTER_DB")
step_done

# --- 2. Environment: the same variables as x-airflow-common in docker-compose.yml -------------
read -r API_PORT LOG_PORT TRIGGER_LOG_PORT SCHEDULER_HEALTH_PORT < <(prove free-ports 4)
API="http://127.0.0.1:$API_PORT"
UI_USER="admin"
UI_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')
printf '{"%s": "%s"}\n' "$UI_USER" "$UI_PASSWORD" >"$WORK/simple_auth_manager_passwords.json"

export AIRFLOW_HOME="$WORK/airflow"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$AIRFLOW_DB_URL"
# Airflow derives its async URL as postgresql+asyncpg:// unless told otherwise; asyncpg is not
# among the project's pins, psycopg 3 is, and it has an async dialect of its own.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="${AIRFLOW_DB_URL/postgresql+psycopg:/postgresql+psycopg_async:}"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__DEFAULT_TIMEZONE=Europe/London
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$UI_USER:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$WORK/simple_auth_manager_passwords.json"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$API/execution/"
export AIRFLOW__CORE__FERNET_KEY
AIRFLOW__CORE__FERNET_KEY=$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__BASE_URL="$API"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API__SECRET_KEY AIRFLOW__API_AUTH__JWT_SECRET
AIRFLOW__API__SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
AIRFLOW__API_AUTH__JWT_SECRET=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$LOG_PORT"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$TRIGGER_LOG_PORT"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT="$SCHEDULER_HEALTH_PORT"
export STATCLOCK_DATABASE_URL="$REGISTER_DB_URL"
export STATCLOCK_PROGRAMME_MANAGER=programme.manager@topology.example
export STATCLOCK_BANK_HOLIDAYS_COPY="$WORK/run/var/bank-holidays.json"
export STATCLOCK_PACKS_DIR="$WORK/run/var/packs"
export STATCLOCK_CACHE_DIR="$WORK/cache"

# --- 3. Airflow metadata DB and the case register ---------------------------------------------
step "airflow db migrate (PostgreSQL $AIRFLOW_DB)"
timeout 600 airflow db migrate >"$WORK/logs/db-migrate.log" 2>&1 ||
  { tail -n 30 "$WORK/logs/db-migrate.log" >&2; die "airflow db migrate failed"; }
step_done

step "statclock db upgrade + demo load ($REGISTER_DB)"
timeout 300 statclock db upgrade --database-url "$REGISTER_DB_URL" --by prove-topology >&2 ||
  die "statclock db upgrade failed"
timeout 300 statclock demo load --database-url "$REGISTER_DB_URL" --by prove-topology >&2 ||
  die "statclock demo load failed"
step_done

# --- 4. The mail catcher, standing in for Mailpit ---------------------------------------------
step "Mail catcher (stands in for Mailpit)"
start_process mail-catcher "$PY" "$ROOT/devtools/mailcatcher.py" --dir "$WORK/mail" --host 127.0.0.1 --port 0
MAIL_PORT=""
for _ in $(seq 1 30); do
  MAIL_PORT=$(sed -nE 's/^Mail catcher listening on [^:]+:([0-9]+);.*/\1/p' "$WORK/logs/mail-catcher.log")
  [[ -n "$MAIL_PORT" ]] && break
  group_alive "${PROC_PIDS[mail-catcher]}" || die "the mail catcher exited"
  sleep 0.5
done
[[ -n "$MAIL_PORT" ]] || die "the mail catcher did not start within 15 s"
export AIRFLOW_CONN_STATCLOCK_SMTP="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $MAIL_PORT, \"extra\": {\"disable_tls\": true, \"disable_ssl\": true, \"from_email\": \"statclock@topology.example\"}}"
say "Mail catcher on 127.0.0.1:$MAIL_PORT, saving to $WORK/mail"
step_done

# --- 5. Four Airflow components, each its own process -----------------------------------------
step "Airflow api-server, scheduler, dag-processor, triggerer: all healthy"
# The api-server first, and only then the rest, as docker-compose.yml's depends_on does: task
# processes call the execution API as soon as they start, and a scheduler that queues work
# while the api-server is still loading gets execution-API timeouts (seen here: the catch-up
# reminders run failed "PATCH /execution/task-instances/.../run: ReadTimeout", went up for retry
# with a five-minute delay and, with max_active_runs=1, held back the run under test).
start_process api-server airflow api-server --host 127.0.0.1 --port "$API_PORT"
api_ready=""
deadline=$(($(date +%s) + TIMEOUT))
while [[ $(date +%s) -lt $deadline ]]; do
  group_alive "${PROC_PIDS[api-server]}" || die "api-server exited (see $WORK/logs/api-server.log)"
  if api_ready=$(prove wait-url "$API/api/v2/version" 2 2>/dev/null); then break; fi
  api_ready=""
done
[[ -n "$api_ready" ]] || die "the api-server did not answer $API/api/v2/version within ${TIMEOUT}s"
say "api-server answering: $api_ready"
start_process scheduler airflow scheduler
start_process dag-processor airflow dag-processor
start_process triggerer airflow triggerer
watch_components() {  # fail at once if a component died
  local name
  for name in api-server scheduler dag-processor triggerer mail-catcher; do
    group_alive "${PROC_PIDS[$name]}" || die "$name exited (see $WORK/logs/$name.log)"
  done
}
health=""
deadline=$(($(date +%s) + TIMEOUT))
while [[ $(date +%s) -lt $deadline ]]; do
  watch_components
  if health=$(prove wait-health "$API" 4 2>/dev/null); then break; fi
  health=""
done
[[ -n "$health" ]] || { prove wait-health "$API" 1 || true; die "Airflow not healthy within ${TIMEOUT}s"; }
say "Health: $health"
scheduler_health=$(prove wait-url "http://127.0.0.1:$SCHEDULER_HEALTH_PORT/health" 30) ||
  die "the scheduler's own health endpoint did not answer"
check "components" PASS "api-server, scheduler, dag-processor, triggerer all healthy ($health); scheduler :$SCHEDULER_HEALTH_PORT/health $scheduler_health"
step_done

# --- 6. REST API v2 authentication -------------------------------------------------------------
step "REST API: JWT from POST /auth/token"
unauthenticated=$(prove expect-status GET "$API/api/v2/dags" 401) ||
  die "GET /api/v2/dags without a token answered $unauthenticated, not 401"
TOKEN=$(prove token "$API" "$UI_USER" "$UI_PASSWORD") || die "could not get a JWT"
authenticated=$(prove expect-status GET "$API/api/v2/dags" 200 "$TOKEN") ||
  die "GET /api/v2/dags with the token answered $authenticated"
check "auth" PASS "no token: $unauthenticated; POST /auth/token -> JWT (${#TOKEN} characters); with it: $authenticated"
step_done

step "DAGs parsed by the dag-processor"
parsed=$(prove wait-dags "$API" "$TOKEN" "$TIMEOUT" register_inspection statutory_clock reminders) ||
  { check "DAG parsing" FAIL "${parsed:-see above}"; die "the DAGs were not parsed cleanly"; }
check "DAG parsing" PASS "$parsed"
step_done

# --- 7. Register a fictional council through the REST API --------------------------------------
step "register_inspection via POST /api/v2/dags/register_inspection/dagRuns"
read -r AS_OF PUBLISHED < <(prove dates)
STAMP=$(date -u +%Y%m%d%H%M%S)
CASE_KEY="topology-$STAMP"
AUTHORITY="Topologyshire County Council (fictional, $STAMP)"
CONF=$("$PY" -c 'import json, sys
key, authority, published = sys.argv[1:]
print(json.dumps({
    "local_authority": authority,
    "dfe_code": "999",
    "framework": "ilacs",
    "published": published,
    "received": None,
    "overall_judgement": "inadequate",
    "judgements": {},
    "direction": None,
    "recommendations": [
        "Within three months | Review every child in need plan",
        "Strengthen management oversight",
    ],
    "programme_manager_email": "pm@topologyshire.example",
    "case_key": key,
}))' "$CASE_KEY" "$AUTHORITY" "$PUBLISHED")
say "Case $CASE_KEY, ILACS inadequate, published $PUBLISHED (publish_report due the working day after $AS_OF)"
REGISTER_RUN="prove-topology-register-$STAMP"
triggered=$(prove trigger "$API" "$TOKEN" register_inspection "$REGISTER_RUN" "$CONF") ||
  die "could not trigger register_inspection"
say "Triggered: $triggered"
register_result=$(prove wait-run "$API" "$TOKEN" register_inspection "$REGISTER_RUN" "$TIMEOUT") ||
  { check "registration" FAIL "run $REGISTER_RUN did not succeed"; die "register_inspection did not succeed"; }
check "registration" PASS "$register_result"
step_done

# --- 8. (a) the case is in the register --------------------------------------------------------
step "(a) the case is in the register"
if shown=$(statclock case show "$CASE_KEY" --database-url "$REGISTER_DB_URL" --format json 2>&1); then
  summary=$(printf '%s' "$shown" | "$PY" -c 'import json, sys
case = json.load(sys.stdin)
milestones = case.get("milestones") or []
name = case.get("authority")
print(f"{name}; {len(milestones)} milestones")' 2>/dev/null || echo "shown (JSON not summarised)")
  if [[ "$summary" == "$AUTHORITY; "* ]]; then
    check "(a) register" PASS "statclock case show $CASE_KEY: $summary"
  else
    check "(a) register" FAIL "statclock case show $CASE_KEY: $summary (expected $AUTHORITY)"
  fi
else
  check "(a) register" FAIL "statclock case show $CASE_KEY: $shown"
fi
step_done

# --- 9. (b) the statutory_clock DAG ran because of the asset event ------------------------------
step "(b) statutory_clock asset_triggered run from that registration"
if asset_result=$(prove wait-asset-run "$API" "$TOKEN" statutory_clock register_inspection "$REGISTER_RUN" "$TIMEOUT"); then
  check "(b) asset" PASS "$asset_result"
else
  check "(b) asset" FAIL "no successful asset_triggered statutory_clock run from $REGISTER_RUN"
fi
step_done

# --- 10. (c) reminders through the API, emails in the mail catcher ------------------------------
step "(c) reminders via REST; email in the mail catcher"
REMINDERS_RUN="prove-topology-reminders-$STAMP"
if triggered=$(prove trigger "$API" "$TOKEN" reminders "$REMINDERS_RUN" '{}') &&
   reminders_result=$(prove wait-run "$API" "$TOKEN" reminders "$REMINDERS_RUN" "$TIMEOUT"); then
  read -r mail_total mail_ours < <(prove mail "$WORK/mail" "$AUTHORITY")
  if [[ "$mail_total" -ge 1 && "$mail_ours" -ge 1 ]]; then
    check "(c) reminders" PASS "$reminders_result; $mail_total .eml in the mail catcher, $mail_ours about $CASE_KEY"
  else
    check "(c) reminders" FAIL "$reminders_result; $mail_total .eml in the mail catcher, $mail_ours about $CASE_KEY (wanted at least 1 of each)"
  fi
else
  check "(c) reminders" FAIL "reminders run $REMINDERS_RUN did not succeed"
fi
step_done

[[ $FAILED -eq 0 ]] || exit 1
