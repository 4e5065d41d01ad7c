"""Every reminder exactly once, through the faults a real server meets (issue 15).

Each test loads fictional councils with hundreds of reminders due today into the running
topology's register, does one thing to the topology in the middle of the reminders run, lets
the product recover by itself (Airflow's retries, a scheduler restarted as compose's
``restart: unless-stopped`` would) and then counts, for that test's reminders only:

- **due**: ledger rows decided for today (the decision is itself exactly once: the ledger's
  unique key);
- **lost**: a row due but never marked sent, or marked sent with a Message-ID the mail catcher
  never received;
- **duplicates**: every copy of a row's Message-ID beyond the first in the catcher.

The counts are printed and written to var/faults.json; every test asserts 0 lost and 0
duplicates, and that the fault really hit the run (the send task needed more than one try, or
the relay refused, or the second run really overlapped the first).

The kills land mid-send by construction: the topology's relay (tests/topology/relay.py) holds
one message in the middle of its SMTP transaction (envelope begun, no DATA yet), so the send
task is blocked on the wire with that row locked and uncommitted when it is killed. The one
moment a kill can still duplicate a message (after the relay's ``250``, before the commit,
about a millisecond) is measured and documented in docs/mail-delivery.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.synthetic import case_file, contact, inspection
from tests.topology.postgres import Cluster, wait_accepting
from tests.topology.stack import CELERY, LOCAL, ROOT, VENV_BIN, Topology
from tests.topology.test_topology import as_of_and_published

RESULTS = ROOT / "var" / "faults.json"
COUNCILS = 8
ACTIONS = 40  # each with its own officer, due within 15 working days
MIN_DUE = 200  # today's reminders of a test's councils: hundreds (248 with the default policy)
RUN_SECONDS = 900
HOLD_AT = 60  # the message held mid-send: well inside the run, past its first seconds

SEEDED: list[str] = []  # the case-key prefixes this session's fault tests loaded

local_only = pytest.mark.parametrize("topology", [pytest.param(LOCAL, id="local")], indirect=True)
celery_only = pytest.mark.parametrize(
    "topology", [pytest.param(CELERY, id="celery")], indirect=True
)


@dataclass(frozen=True)
class Counts:
    fault: str
    executor: str
    due: int
    sent: int
    delivered: int
    lost: int
    duplicates: int
    send_tries: int
    run_seconds: float
    note: str = ""

    def line(self) -> str:
        return (
            f"{self.fault} ({self.executor}): {self.due} reminders due, {self.sent} sent, "
            f"{self.delivered} delivered, {self.lost} lost, {self.duplicates} duplicates; "
            f"send task tries {self.send_tries}; run {self.run_seconds:.0f} s. {self.note}"
        ).strip()


# -- the councils ----------------------------------------------------------------------------


def seed(topology: Topology, label: str) -> str:
    """COUNCILS fictional councils whose case keys start with the returned prefix, each with
    ACTIONS open actions owned by officers with their own addresses, due within the next 15
    working days, so that each is reminded today."""
    from statutory_clock.calendar import default_calendar
    from statutory_clock.store import db, register
    from statutory_clock.store.case_document import CaseDocument
    from statutory_clock.store.casefile_typing import ActionDict

    calendar = default_calendar()
    as_of, _ = as_of_and_published()
    published = calendar.add_working_days(as_of, -10)
    prefix = f"faults-{label}-{dt.datetime.now(dt.UTC):%H%M%S}"
    code = 900 + 10 * len(SEEDED)  # DfE codes of their own: a code names one council
    engine = db.make_engine(topology.register_url)
    try:
        with db.transaction(engine) as session:
            for c in range(COUNCILS):
                domain = f"{label}{c}.faults.example"
                officers = [f"Officer {a:02d}" for a in range(ACTIONS)]
                actions: list[ActionDict] = [
                    {
                        "recommendation": 1,
                        "current_strategy": None,
                        "required_outcome": f"Outcome {a}",
                        "lead_officer": officers[a],
                        "key_tasks": None,
                        "progress": [],
                        "target_date": calendar.add_working_days(as_of, 1 + a % 15),
                        "status": "amber",
                        "smt_lead": None,
                    }
                    for a in range(ACTIONS)
                ]
                doc = case_file(
                    f"{prefix}-{c}",
                    f"Faultshire {label.title()} {c} Council (fictional)",
                    f"{code + c}",
                    [
                        contact(name, "Action lead", f"officer{a:02d}@{domain}")
                        for a, name in enumerate(officers)
                    ],
                    inspection(
                        "ilacs",
                        published,
                        {
                            "help_and_protection": "requires_improvement",
                            "children_in_care": "requires_improvement",
                            "care_leavers": "good",
                            "leadership": "requires_improvement",
                        },
                        [{"number": 1, "text": "Improve", "timescale": None, "theme": None}],
                        actions,
                    ),
                )
                register.import_case(session, CaseDocument.from_dict(doc), "fault tests", published)
    finally:
        engine.dispose()
    SEEDED.append(prefix)
    return prefix


# -- counting --------------------------------------------------------------------------------


def delivered_ids(mail_dir: Path) -> Counter[str]:
    parser = BytesHeaderParser()
    found: Counter[str] = Counter()
    for path in mail_dir.glob("*.eml"):
        with path.open("rb") as handle:
            found[str(parser.parse(handle)["Message-ID"] or "").strip()] += 1
    return found


def count(
    topology: Topology, prefix: str, fault: str, run_id: str, started: float, note: str = ""
) -> Counts:
    from statutory_clock.store import db
    from statutory_clock.store.models import Inspection, ReminderLedger

    engine = db.make_engine(topology.register_url)
    try:
        with db.transaction(engine) as session:
            rows = session.execute(
                select(ReminderLedger.state, ReminderLedger.message_id)
                .join(Inspection, Inspection.id == ReminderLedger.inspection_id)
                .where(Inspection.key.startswith(prefix), ReminderLedger.state != "superseded")
            ).all()
    finally:
        engine.dispose()
    # The catcher writes before it answers 250 and the run ends after the last commit: any
    # message of the run is on disk by now; a moment for the last rename.
    time.sleep(1)
    copies = delivered_ids(topology.mail_dir)
    sent_ids = [mid for state, mid in rows if state == "sent"]
    lost = sum(1 for state, _ in rows if state != "sent") + sum(
        1 for mid in sent_ids if copies[mid] == 0
    )
    tries = max(
        (
            int(ti.get("try_number") or 0)
            for ti in topology.api.task_instances("reminders", run_id)
            if ti["task_id"] == "send_reminders"
        ),
        default=0,
    )
    counts = Counts(
        fault=fault,
        executor=topology.executor,
        due=len(rows),
        sent=len(sent_ids),
        delivered=sum(1 for mid in sent_ids if copies[mid] > 0),
        lost=lost,
        duplicates=sum(copies[mid] - 1 for mid in set(sent_ids) if copies[mid] > 1),
        send_tries=tries,
        run_seconds=time.monotonic() - started,
        note=note,
    )
    print(f"\n{counts.line()}")
    record(counts)
    return counts


def record(counts: Counts) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    known: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    known[f"{counts.fault} ({counts.executor})"] = asdict(counts)
    RESULTS.write_text(json.dumps(known, indent=1) + "\n")


def assert_exactly_once(counts: Counts) -> None:
    assert counts.due >= MIN_DUE, f"too few reminders were due: {counts.line()}"
    assert counts.lost == 0 and counts.duplicates == 0, counts.line()


def quiet(topology: Topology) -> None:
    """Wait until the scheduler has made the day's scheduled reminders run (its next one is in
    the future) and no reminders run is queued or running (that one, an earlier test's), so
    that this test's councils are decided, and the fault lands, in this test's run."""
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        following = topology.api.json("/api/v2/dags/reminders").get("next_dagrun_run_after")
        made = following is not None and dt.datetime.fromisoformat(following) > dt.datetime.now(
            dt.UTC
        )
        runs = topology.api.json("/api/v2/dags/reminders/dagRuns", limit=100)["dag_runs"]
        busy = [r["dag_run_id"] for r in runs if r["state"] in ("queued", "running")]
        if made and not busy:
            return
        assert time.monotonic() < deadline, f"reminders runs still going: {busy}"
        time.sleep(2)


def trigger(topology: Topology, fault: str) -> tuple[str, float]:
    slug = re.sub(r"[^a-z0-9]+", "-", fault)
    run_id = f"faults-{slug}-{topology.executor[:-8].lower()}-{time.time_ns()}"
    topology.api.trigger("reminders", run_id, {})
    return run_id, time.monotonic()


def running_on(topology: Topology, run_id: str, task_id: str) -> str:
    """The service running the task (the API may take a moment to show it running)."""
    seen: list[str] = []
    for _ in range(30):
        tis = topology.api.task_instances("reminders", run_id)
        for ti in tis:
            if ti["task_id"] == task_id and ti["state"] == "running":
                return str(ti["hostname"])
        seen = [f"{ti['task_id']}: {ti['state']}" for ti in tis]
        time.sleep(1)
    runs = topology.api.json("/api/v2/dags/reminders/dagRuns", limit=20)["dag_runs"]
    raise AssertionError(
        f"{task_id} of {run_id} is not running ({seen}); runs: "
        f"{[(r['dag_run_id'], r['state']) for r in runs]}"
    )


def held_mid_send(topology: Topology) -> None:
    assert topology.relay.held.wait(240), (
        f"the send task never reached message {HOLD_AT}:\n{topology.logs()}"
    )


# -- the faults ------------------------------------------------------------------------------


@local_only
def test_scheduler_killed_mid_send(topology: Topology) -> None:
    """(a) SIGKILL to the scheduler and everything it started (its LocalExecutor worker and the
    send task in it), as when its container dies, then started again."""
    quiet(topology)
    prefix = seed(topology, "scheduler")
    topology.relay.hold(HOLD_AT)
    run_id, started = trigger(topology, "scheduler killed")
    held_mid_send(topology)
    assert running_on(topology, run_id, "send_reminders") == "airflow-scheduler"
    topology.services["airflow-scheduler"].kill()
    topology.relay.release()
    topology.restart("airflow-scheduler")
    topology.api.wait_run("reminders", run_id, RUN_SECONDS)
    counts = count(topology, prefix, "scheduler killed mid-send", run_id, started)
    assert counts.send_tries >= 2, f"the kill did not interrupt the send task: {counts.line()}"
    assert_exactly_once(counts)


@celery_only
def test_celery_worker_killed_mid_send(topology: Topology) -> None:
    """(b) SIGKILL to the Celery worker running the send task (its pool and the task process
    with it), then started again; the run finishes on whichever worker picks the retry up."""
    quiet(topology)
    prefix = seed(topology, "worker")
    topology.relay.hold(HOLD_AT)
    run_id, started = trigger(topology, "worker killed")
    held_mid_send(topology)
    worker = running_on(topology, run_id, "send_reminders")
    assert worker in {w.name for w in topology.workers}, worker
    topology.services[worker].kill()
    topology.relay.release()
    topology.restart(worker)
    topology.api.wait_run("reminders", run_id, RUN_SECONDS)
    counts = count(topology, prefix, "worker killed mid-send", run_id, started, f"killed {worker}")
    assert counts.send_tries >= 2, f"the kill did not interrupt the send task: {counts.line()}"
    assert_exactly_once(counts)


@local_only
@pytest.mark.parametrize(
    "moment",
    ["mid-conversation", "after the relay's 250"],
)
def test_database_stopped_for_30_seconds(
    topology: Topology, postgres: Cluster, moment: str
) -> None:
    """(c) PostgreSQL (Airflow's metadata and the register: one server, as in compose) stopped
    for 30 s in the middle of the send; any Airflow process that gives up meanwhile is started
    again, as compose's restart policy does. Two moments: the relay then drops the message on
    the wire (the send task fails, and its retry sends the rest once the database is back), or
    takes it (the row cannot be recorded: the task waits for the register and records it, rather
    than failing and sending it again). Nothing lost or doubled, every case whole, the audit
    trail's chain intact."""
    quiet(topology)
    prefix = seed(topology, "database")
    topology.relay.hold(HOLD_AT)
    run_id, started = trigger(topology, f"database stopped {moment}")
    held_mid_send(topology)
    postgres.stop()
    accepted = moment != "mid-conversation"
    topology.relay.release(drop=not accepted)
    time.sleep(30)
    postgres.start()
    wait_accepting(postgres)
    restarted = wait_run_restarting(topology, run_id)
    note = f"restarted after the outage: {', '.join(sorted(restarted)) or 'none'}"
    counts = count(topology, prefix, f"database stopped 30 s, {moment}", run_id, started, note)
    if accepted:
        waited = re.findall(r"recorded as sent after (\d+) s", task_logs(topology, run_id))
        assert waited and int(waited[0]) >= 20, f"no wait for the register: {counts.line()}"
    else:
        assert counts.send_tries >= 2, f"the outage did not fail the send task: {counts.line()}"
    assert_exactly_once(counts)
    assert_cases_whole(topology, prefix)


def task_logs(topology: Topology, run_id: str) -> str:
    folder = topology.workdir / "airflow" / "logs" / "dag_id=reminders" / f"run_id={run_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*.log")))


def wait_run_restarting(topology: Topology, run_id: str) -> set[str]:
    """Wait for the run to succeed, starting again any Airflow service that gives up meanwhile
    (a scheduler that lost its database exits), as compose's restart policy would; the names
    of the services restarted."""
    restarted: set[str] = set()
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        restarted |= set(topology.restart_exited())
        answer = topology.api.get(topology.api.run_path("reminders", run_id))
        if answer.status_code == 200 and answer.json()["state"] in ("success", "failed"):
            break
        time.sleep(2)
    topology.api.wait_run("reminders", run_id, 5)  # success, or RunFailed with the tasks' logs
    return restarted


def assert_cases_whole(topology: Topology, prefix: str) -> None:
    from statutory_clock.store import db
    from statutory_clock.store.models import ActionItem, Inspection, MilestoneRecord

    engine = db.make_engine(topology.register_url)
    try:
        with db.transaction(engine) as session:
            for inspection in session.execute(
                select(Inspection).where(Inspection.key.startswith(prefix))
            ).scalars():
                actions = session.execute(
                    select(ActionItem).where(ActionItem.inspection_id == inspection.id)
                ).all()
                milestones = session.execute(
                    select(MilestoneRecord).where(MilestoneRecord.inspection_id == inspection.id)
                ).all()
                assert len(actions) == ACTIONS and milestones, inspection.key
    finally:
        engine.dispose()
    verified = subprocess.run(
        [str(VENV_BIN / "statclock"), "audit", "verify", "--database-url", topology.register_url],
        env=topology.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


@local_only
def test_relay_refusing_for_five_minutes(topology: Topology) -> None:
    """(d) The relay answers every connection ``421`` for 5 minutes, then takes mail again:
    the send task fails and is retried until it gets through; every reminder arrives once."""
    quiet(topology)
    prefix = seed(topology, "relay")
    topology.relay.refuse()
    refused_from, refused_before = time.monotonic(), topology.relay.refused
    run_id, started = trigger(topology, "relay refusing")
    time.sleep(max(0.0, 300 - (time.monotonic() - refused_from)))
    topology.relay.recover()
    refused = topology.relay.refused - refused_before
    topology.api.wait_run("reminders", run_id, RUN_SECONDS)
    counts = count(
        topology, prefix, "relay refusing 5 min", run_id, started, f"{refused} connections refused"
    )
    assert refused >= 2 and counts.send_tries >= 2, counts.line()
    assert_exactly_once(counts)


@local_only
def test_two_reminders_runs_at_once(topology: Topology) -> None:
    """(e) A second reminders run for the same day starts while the day's run is sending: an
    operator's ``airflow dags test reminders`` from an Airflow home of their own (a laptop, or
    a second server left running) pointed at the same register and relay. Airflow's guards
    (``max_active_runs``, task states) do not reach across two metadata databases, so only the
    register stands between the two runs: both decide and send at the same time, and no
    reminder goes twice.

    Its own home, not the deployment's metadata database: there the scheduler also queues the
    tasks of a ``dags test`` run (they are SCHEDULED in a RUNNING run), and whichever of the
    two starts the task second fails with ``TaskAlreadyRunningError`` (Airflow 3.3.2), a race
    the test would lose at random."""
    quiet(topology)
    prefix = seed(topology, "twice")
    by_hand_env = own_airflow_home(topology)
    topology.relay.hold(HOLD_AT)
    run_id, started = trigger(topology, "two runs")
    held_mid_send(topology)
    outcome: dict[str, subprocess.CompletedProcess[str]] = {}
    by_hand = threading.Thread(
        target=lambda: outcome.setdefault("done", run_by_hand(topology, by_hand_env)),
        daemon=True,
    )
    by_hand.start()
    by_hand.join(600)
    topology.relay.release(drop=False)  # the first run's held message goes on
    done = outcome.get("done")
    assert done is not None, "airflow dags test did not finish within 10 minutes"
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-3000:]
    topology.api.wait_run("reminders", run_id, RUN_SECONDS)
    sent_by_hand = re.search(r"(\d+) reminder\(s\) sent", said)
    assert sent_by_hand, said[-3000:]
    note = f"the run by hand sent {sent_by_hand[1]} while the first was held on one"
    counts = count(topology, prefix, "two runs at once", run_id, started, note)
    # Both really sent: the run by hand some of today's, the first run the rest.
    assert 0 < int(sent_by_hand[1]) < counts.due, counts.line()
    assert_exactly_once(counts)


def own_airflow_home(topology: Topology) -> dict[str, str]:
    """The topology's environment with an Airflow home and metadata database (SQLite) of its
    own, migrated; the register, relay and everything else the same."""
    home = topology.workdir / "by-hand"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in topology.env.items()
        if k != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"  # derived from the SQLite URL
    }
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    migrated = subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"],
        env=env,
        cwd=topology.workdir / "run",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrated.returncode == 0, (migrated.stdout + migrated.stderr)[-3000:]
    return env


def run_by_hand(topology: Topology, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "airflow"), "dags", "test", "reminders"],
        env=env,
        cwd=topology.workdir / "run",
        capture_output=True,
        text=True,
        timeout=600,
    )


@local_only
def test_no_personal_data_in_the_failure_days_task_logs(topology: Topology) -> None:
    """Logs without personal data, on a bad day too: after the kills, the outage, the refusals
    and the retries above (or, run alone, one plain run), not one officer's address or name,
    nor the programme manager's address, is in any task log."""
    if not SEEDED:
        quiet(topology)
        SEEDED.append(seed(topology, "logs"))
        run_id, _ = trigger(topology, "logs")
        topology.api.wait_run("reminders", run_id, RUN_SECONDS)
    people = {topology.env["STATCLOCK_PROGRAMME_MANAGER"]}
    for prefix in SEEDED:
        label = prefix.split("-")[1]
        for c in range(COUNCILS):
            people |= {f"officer{a:02d}@{label}{c}.faults.example" for a in range(ACTIONS)}
    people |= {f"Officer {a:02d}" for a in range(ACTIONS)}
    logs = sorted((topology.workdir / "airflow" / "logs").glob("dag_id=*/**/*.log"))
    assert len(logs) > 10, logs
    leaks = sorted(
        {
            (path.relative_to(topology.workdir).as_posix(), who)
            for path in logs
            for who in people
            if who in path.read_text(encoding="utf-8", errors="replace")
        }
    )
    assert leaks == [], leaks[:20]
