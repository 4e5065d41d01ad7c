#!/usr/bin/env bash
# Run the product on its embedded default: Airflow standalone (SQLite, LocalExecutor) with the
# project's DAGs and plugins, the case register migrated and loaded with the demo councils, and
# a local mail catcher that keeps every email as a .eml file under var/mail/.
# Nothing is scheduled before Airflow's API server answers: every DAG starts paused and is
# switched on once it does (statclock_airflow/first_start.py). Ctrl-C stops everything.
# STATCLOCK_VAR_DIR (default ./var) holds everything it writes; STATCLOCK_UI_PORT and
# STATCLOCK_MAIL_PORT choose the ports (the start-up test runs it that way).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-venv.sh

ROOT="$PWD"
VAR="${STATCLOCK_VAR_DIR:-$ROOT/var}"
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="$VAR/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# Paused until the API server answers (see above): a task started before it fails.
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__CORE__DEFAULT_TIMEZONE=Europe/London
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-${STATCLOCK_UI_USER:-admin}:admin}"
export AIRFLOW__API__PORT="${STATCLOCK_UI_PORT:-8080}"
# The UI and API listen on this machine only unless told otherwise (STATCLOCK_UI_HOST=0.0.0.0
# for every interface: put TLS in front first, see docs/deployment.md).
export AIRFLOW__API__HOST="${STATCLOCK_UI_HOST:-127.0.0.1}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:${AIRFLOW__API__PORT}/execution/"
export STATCLOCK_DATABASE_URL="${STATCLOCK_DATABASE_URL:-sqlite:///$VAR/statclock.db}"
# Where people reach the UI: the calendar feeds' addresses and links to the council pages.
export STATCLOCK_BASE_URL="${STATCLOCK_BASE_URL:-http://localhost:${AIRFLOW__API__PORT}}"
export STATCLOCK_PACKS_DIR="${STATCLOCK_PACKS_DIR:-$VAR/packs}"
export STATCLOCK_PROGRAMME_MANAGER="${STATCLOCK_PROGRAMME_MANAGER:-programme.manager@localhost}"
MAIL_PORT="${STATCLOCK_MAIL_PORT:-8025}"
export AIRFLOW_CONN_STATCLOCK_SMTP="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $MAIL_PORT, \"extra\": {\"disable_tls\": true, \"disable_ssl\": true, \"from_email\": \"statclock@localhost\"}}"
mkdir -p "$VAR/mail" "$AIRFLOW_HOME"

echo "==> Case register: migrating $STATCLOCK_DATABASE_URL and loading the demo councils"
statclock demo load

# DAGs switched on by an earlier start are paused until the API server answers again.
if [[ -f "$AIRFLOW_HOME/airflow.db" ]]; then
  airflow dags pause --treat-dag-id-as-regex '.*' --yes > /dev/null 2>&1 || true
fi

# Each service runs in a process group of its own (setsid), and stopping sends SIGTERM to the
# whole group: `airflow standalone` leaves its scheduler, API server and workers running when
# only it is sent SIGTERM, and hangs after they exit when it is sent SIGINT. Whatever is still
# there 30 s later is killed.
pids=()
groups_alive() {
  local pid
  for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && return 0; done
  return 1
}
stop() {
  trap - INT TERM EXIT
  echo
  echo "==> Stopping Airflow and the mail catcher (up to 30 s)"
  local pid
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do groups_alive || break; sleep 1; done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "==> Stopped."
}
trap stop INT TERM EXIT

setsid python -m devtools.mailcatcher --dir "$VAR/mail" --port "$MAIL_PORT" \
  > "$VAR/mail-catcher.log" 2>&1 &
pids+=($!)

echo "==> Starting Airflow standalone (a first start also migrates its database)"
setsid airflow standalone > "$AIRFLOW_HOME/standalone.log" 2>&1 &
pids+=($!)

# Wait for the API server, then switch the DAGs on: the scheduler runs today's clock,
# reminders and packs straight away (see statclock_airflow/first_start.py).
password_file="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if ! python -m statclock_airflow.first_start --api "http://127.0.0.1:${AIRFLOW__API__PORT}" \
    --user "${STATCLOCK_UI_USER:-admin}" --password-file "$password_file" \
    --dags-folder "$AIRFLOW__CORE__DAGS_FOLDER" --watch-pid "${pids[1]}" --timeout 300; then
  echo "Airflow did not start; see $AIRFLOW_HOME/standalone.log" >&2; exit 1
fi
password=$(python -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], '?'))" \
  "$password_file" "${STATCLOCK_UI_USER:-admin}" 2>/dev/null || echo "see $password_file")

cat <<MSG

  statclock is running.
    Airflow UI:     http://localhost:${AIRFLOW__API__PORT}  (listening on ${AIRFLOW__API__HOST})
    Log in as:      ${STATCLOCK_UI_USER:-admin} / ${password}
    Deadlines:      "Statutory clock" in Airflow's menu, or $STATCLOCK_BASE_URL/statclock/
    Calendar feed:  .venv/bin/statclock feed url --portfolio  (subscribe in Outlook)
    Emails land in: $VAR/mail/  (one .eml file per email; open with any mail client)
    Mail catcher:   127.0.0.1:$MAIL_PORT (log: $VAR/mail-catcher.log)
    Case register:  $STATCLOCK_DATABASE_URL  (try: .venv/bin/statclock case list)
    Airflow log:    $AIRFLOW_HOME/standalone.log
  DAGs: statutory_clock, reminders, reminders_watchdog, register_inspection, confirm_milestone,
        board_pack (packs archived under $STATCLOCK_PACKS_DIR/),
        bank_holidays. Press Ctrl-C to stop.

MSG
wait "${pids[1]}"
