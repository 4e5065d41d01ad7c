"""Benchmark: one working day's full cycle for the national portfolio, on the production topology.

    STATCLOCK_TEST_POSTGRES_URL=postgresql+psycopg://... \\
    PYTHONPATH=include .venv/bin/python benchmarks/bench_national.py \\
        [--councils 15,50,153] [--executor local,celery] [--runs 1] [--out var/bench/national.json]

For each executor, the compose topology as native processes (tests/topology/stack.py: PostgreSQL
for Airflow's metadata and the case register, the mail catcher, the Airflow api-server,
scheduler, dag-processor and triggerer, and for Celery redis-server and two workers) is started
once; for each size the register is emptied (its schema dropped and migrated again, the pack
archive cleared), the portfolio loaded, and the day's cycle triggered through REST API v2 as the
scheduler triggers it on a working day, one DAG after the other in the schedule's order:

    06:30  board_pack        the day's packs (plan_packs, one make_pack per pack, send_packs)
    07:00  statutory_clock   every open case's clock recomputed (recompute_clocks)
    07:30  reminders         decide_reminders, then send_reminders and post_notices

Each run is for the benchmark's working day, Friday 7 June 2024 (its logical date is that day,
so the run's data interval ends at that day's slot, as a scheduled run's does): the fifth
working day of the month, the day the monthly board packs are due.

The portfolio (per council, code 100 upwards): three inspections with their histories, the SIF
of 2015 and the ILACS of 2019 closed as superseded by the current ILACS, published 3 to 24
months before the day; 20 recommendations and 60 actions each, the current plan's target dates
spread from 7 months before the day to 8 months after it, each owned by one of seven named
officers with an email address and the council's programme manager as escalation contact; the
written statement of action and the first monitoring visit recorded where they are past; an
improvement board (monthly, no meeting dates: a pack on the fifth working day) where the
current or previous judgement is inadequate, with its last twelve packs archived. The register
is then brought to the morning of the day as years of use leave it: for each of the five working
days before it, the clock recomputed and that day's reminders decided and marked sent (the
first of them catches up every item once, the others are ordinary days), so the benchmark day's
reminders are an ordinary day's, not a first start's burst.

Per size and executor: the wall time from the first trigger to the last run's success, each run's
wall time (trigger to success), each task's queue wait (queued to start) and duration (start to
end, from the API's task instances; the mapped make_pack as count, sum and longest), emails the
mail catcher received during each run, packs archived. A table on stdout, JSON to --out,
progress on stderr. A task that needed a second try (the register's connection cut by something
else on the machine, say) is counted in the "retried" column: that cycle's time includes the
DAG's retry delay (5 minutes) and says nothing about speed. Nothing is tuned here: the DAGs
run as shipped, with the topology's settings (parallelism 4, Celery concurrency 2 per worker).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "include"))

from sqlalchemy import create_engine, func, select, text, update  # noqa: E402

from statutory_clock.calendar import default_calendar  # noqa: E402
from statutory_clock.store import db, register  # noqa: E402
from statutory_clock.store.case_document import CaseDocument  # noqa: E402
from statutory_clock.store.casefile_typing import (  # noqa: E402
    ActionDict,
    BoardDict,
    CaseFileDict,
    ContactDict,
    EventDict,
    InspectionDict,
)
from statutory_clock.store.models import BoardPack, Inspection, ReminderLedger  # noqa: E402
from statutory_clock.store.outbox import PACK_PREFIX  # noqa: E402
from tests.synthetic import (  # noqa: E402
    archived_pack,
    case_file,
    contact,
    direction,
    inspection,
    recommendations,
)
from tests.topology.stack import CELERY, LOCAL, Topology, started  # noqa: E402

DAY = dt.date(2024, 6, 7)  # Friday, the fifth working day of June 2024: monthly packs due
LONDON = ZoneInfo("Europe/London")
HISTORY_DAYS = 5  # working days of reminders already decided and sent before DAY
OFFICERS = 7
CYCLE = ("board_pack", "statutory_clock", "reminders")  # the schedule's order: 06:30, 07:00, 07:30
RUN_SECONDS = 3600.0
EXECUTORS = {"local": LOCAL, "celery": CELERY}
NO_SCHEDULE = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}


def say(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- the portfolio --------------------------------------------------------------------------------


def _contacts(code: str) -> list[ContactDict]:
    manager = "Programme Manager"
    people = [contact(manager, "Improvement programme manager", f"pm@council{code}.gov.uk")]
    people += [
        contact(f"Officer {n}", "Lead officer", f"officer{n}@council{code}.gov.uk", manager)
        for n in range(OFFICERS)
    ]
    return people


def _inspection(
    rng: random.Random, code: str, framework: str, published: dt.date, judgement: str, current: bool
) -> InspectionDict:
    actions: list[ActionDict] = []
    for a in range(60):
        if current:  # spread around DAY: some overdue, some due soon, most later
            target = DAY + dt.timedelta(days=rng.randrange(-210, 240))
        else:
            target = published + dt.timedelta(days=180 + 5 * a)
        actions.append(
            {
                "recommendation": 1 + a % 20,
                "current_strategy": None,
                "required_outcome": f"Outcome {a} for council {code}",
                "lead_officer": f"Officer {a % OFFICERS}",
                "key_tasks": f"Task list {a}",
                "progress": [{"date": published + dt.timedelta(days=30), "note": "Started"}],
                "target_date": target,
                "status": rng.choice(["red", "amber", "green", None])
                if target > DAY - dt.timedelta(days=60)
                else rng.choice(["complete", "green", "amber"]),
                "smt_lead": "Director",
            }
        )
    events: list[EventDict] = []
    horizon = DAY - dt.timedelta(days=10)
    if judgement == "inadequate":
        wsoa = published + dt.timedelta(days=rng.randrange(85, 100))
        if wsoa < horizon:
            events.append({"milestone": "written_statement_of_action", "date": wsoa, "note": None})
        visit = published + dt.timedelta(days=rng.randrange(150, 200))
        if visit < horizon:
            events.append({"milestone": "first_monitoring_visit", "date": visit, "note": None})
    return inspection(
        framework,
        published,
        {"overall": judgement},
        recommendations(code),
        actions,
        events,
        {"written_statement_of_action": "Programme Manager"},
    )


def _board(code: str) -> BoardDict:
    return {
        "name": "Improvement Board",
        "chair": "Independent Chair",
        "cadence": "monthly",
        "cadence_changes": [],
        "meetings": [],
        "other_reporting": [],
        "distribution": [f"board@council{code}.gov.uk", f"chair@council{code}.gov.uk"],
    }


def national_portfolio(councils: int, seed: int = 153) -> list[CaseFileDict]:
    """Three case documents per council, oldest first (each new one supersedes the last)."""
    rng = random.Random(seed)
    docs = []
    for c in range(councils):
        code = f"{100 + c:03d}"
        history = [
            ("sif", dt.date(2015, 1, 5) + dt.timedelta(days=rng.randrange(300))),
            ("ilacs", dt.date(2019, 1, 5) + dt.timedelta(days=rng.randrange(300))),
            ("ilacs", DAY - dt.timedelta(days=rng.randrange(90, 730))),
        ]
        judgements = [
            rng.choices(["inadequate", "requires_improvement", "good"], [20, 45, 35])[0]
            for _ in history
        ]
        for i, (framework, published) in enumerate(history):
            current = i == len(history) - 1
            judgement = judgements[i]
            needs_board = current and "inadequate" in judgements[-2:]
            docs.append(
                case_file(
                    f"la{code}-{i}",
                    f"Council {code}",
                    code,
                    _contacts(code),
                    _inspection(rng, code, framework, published, judgement, current),
                    direction(published) if judgement == "inadequate" else None,
                    _board(code) if needs_board else None,
                )
            )
    return docs


@dataclass
class Loaded:
    councils: int
    cases: int
    open_cases: int
    boards: int
    actions: int
    ledger_rows: int
    archived_packs: int
    seconds: float


def reset_register(topology: Topology) -> None:
    """An empty register at the head revision: the schema dropped and migrated again (the
    audit trail refuses DELETE and TRUNCATE, as it should), and the pack archive cleared."""
    owner = create_engine(topology.register_owner_url, isolation_level="AUTOCOMMIT")
    try:
        with owner.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        owner.dispose()
    db.upgrade(topology.register_url, owner=topology.register_owner_url)
    if topology.packs_dir.exists():
        shutil.rmtree(topology.packs_dir)


def load_portfolio(topology: Topology, councils: int) -> Loaded:
    """The portfolio imported as the application's role, then five working days of use."""
    from statutory_clock.reminders import load_policy
    from statutory_clock.store.outbox import plan_reminders

    started_at = time.perf_counter()
    calendar = default_calendar()
    days = [calendar.add_working_days(DAY, -n) for n in range(HISTORY_DAYS, 0, -1)]
    engine = db.make_engine(topology.register_url)
    manager = topology.env["STATCLOCK_PROGRAMME_MANAGER"]
    try:
        docs = national_portfolio(councils)
        imported_on = calendar.add_working_days(days[0], -1)
        with db.transaction(engine) as session:
            for doc in docs:
                register.import_case(
                    session, CaseDocument.from_dict(doc), "bench_national", imported_on
                )
        with db.transaction(engine) as session:
            _pack_history(session)
        policy = load_policy()
        for day in days:
            with db.transaction(engine) as session:
                register.recompute_all(session, day, "bench_national")
                plan_reminders(session, day, policy, manager)
            with db.transaction(engine) as session:  # as send_reminders would mark them
                sent_at = dt.datetime.combine(day, dt.time(7, 31), LONDON)
                session.execute(
                    update(ReminderLedger)
                    .where(ReminderLedger.state == "pending")
                    .values(
                        state="sent",
                        sent_at=sent_at,
                        attempts=1,
                        message_id=f"<history-{day.isoformat()}@statclock.invalid>",
                    )
                )
        with db.transaction(engine) as session:
            cases = session.scalar(select(func.count(Inspection.id))) or 0
            open_cases = list(
                session.execute(select(Inspection).where(Inspection.open.is_(True))).scalars()
            )
            loaded = Loaded(
                councils=councils,
                cases=cases,
                open_cases=len(open_cases),
                boards=sum(1 for c in open_cases if c.board is not None),
                actions=sum(len(c.actions) for c in open_cases),
                ledger_rows=session.scalar(select(func.count(ReminderLedger.id))) or 0,
                archived_packs=session.scalar(select(func.count(BoardPack.id))) or 0,
                seconds=time.perf_counter() - started_at,
            )
    finally:
        engine.dispose()
    return loaded


def _pack_history(session: Any) -> None:
    """Twelve monthly packs archived for each board, the months before the one due on DAY."""
    cases = session.execute(select(Inspection).where(Inspection.open.is_(True))).scalars().all()
    for case in cases:
        if case.board is None:
            continue
        end = DAY.replace(day=1) - dt.timedelta(days=1)  # May 2024: the pack due on DAY
        for _ in range(12):
            end = end.replace(day=1) - dt.timedelta(days=1)
            start = end.replace(day=1)
            created_at = dt.datetime.combine(end, dt.time(6, 40), LONDON) + dt.timedelta(days=7)
            session.add(archived_pack(case, start, end, created_at))


# -- the cycle ------------------------------------------------------------------------------------


@dataclass
class TaskTime:
    task_id: str
    instances: int
    hosts: list[str]
    queued_seconds: float  # longest wait from scheduled to start
    seconds: float  # start to end; for mapped tasks, the longest instance
    total_seconds: float  # sum over instances (the work, whatever ran in parallel)
    retried: int  # instances that needed more than one try (their time includes the retry delay)


@dataclass
class RunTime:
    dag_id: str
    run_id: str
    wall_seconds: float  # from the trigger to the run seen succeeded (polled each second)
    run_seconds: float  # the run's own start to end, from the API
    emails: int
    tasks: list[TaskTime] = field(default_factory=list)


@dataclass
class Cycle:
    executor: str
    councils: int
    attempt: int
    loaded: Loaded
    wall_seconds: float
    runs: list[RunTime]
    reminders_decided: int
    reminders_sent: int
    packs_built: int
    load_average: tuple[float, float, float]


def _instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _seconds(start: str | None, end: str | None) -> float:
    a, b = _instant(start), _instant(end)
    return (b - a).total_seconds() if a and b else 0.0


def task_times(topology: Topology, dag_id: str, run_id: str) -> list[TaskTime]:
    path = f"{topology.api.run_path(dag_id, run_id)}/taskInstances"
    instances: list[dict[str, Any]] = []
    while True:
        page = topology.api.json(path, limit=100, offset=len(instances))["task_instances"]
        instances += page
        if len(page) < 100:
            break
    by_task: dict[str, list[dict[str, Any]]] = {}
    for ti in instances:
        by_task.setdefault(ti["task_id"], []).append(ti)
    times = []
    for task_id, tis in by_task.items():
        ran = [ti for ti in tis if ti.get("start_date")]
        durations = [_seconds(ti["start_date"], ti["end_date"]) for ti in ran]
        # From the moment its upstream let it be scheduled to the moment it started running:
        # the scheduler's loop, the executor's queue (Redis for Celery) and the task process's
        # start-up before it reports to the execution API.
        waits = [
            _seconds(ti.get("scheduled_when") or ti.get("queued_when"), ti["start_date"])
            for ti in ran
        ]
        times.append(
            TaskTime(
                task_id=task_id,
                instances=len(tis),
                hosts=sorted({str(ti.get("hostname")) for ti in ran}),
                queued_seconds=max(waits, default=0.0),
                seconds=max(durations, default=0.0),
                total_seconds=sum(durations),
                retried=sum(1 for ti in tis if (ti.get("try_number") or 0) > 1),
            )
        )
    return times


def emails_in(topology: Topology) -> int:
    return len(list(topology.mail_dir.glob("*.eml")))


def trigger_for_day(topology: Topology, dag_id: str, run_id: str, minute: int) -> None:
    """A run for DAY, as the scheduler's would be: its logical date on DAY (after the 07:30
    slot, so every DAG's data interval ends at DAY's slot); ``minute`` keeps each run's logical
    date distinct."""
    when = dt.datetime.combine(DAY, dt.time(9, 0), LONDON) + dt.timedelta(minutes=minute)
    answer = topology.api.client.post(
        f"{topology.api.base_url}/api/v2/dags/{dag_id}/dagRuns",
        headers={"Authorization": f"Bearer {topology.api.token}"},
        json={"dag_run_id": run_id, "logical_date": when.isoformat(), "conf": {}},
    )
    if answer.status_code != 200:
        raise RuntimeError(f"trigger {dag_id}: {answer.status_code} {answer.text[:500]}")


def settle(topology: Topology, seconds: float = 600) -> None:
    """Wait until no run of the product's DAGs is queued or running, before the register is
    emptied under it (the scheduler makes no runs of its own here; this is the safety catch)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = [
            f"{dag_id} {run['dag_run_id']}"
            for dag_id in (*CYCLE, "register_inspection")
            for run in topology.api.json(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
            if run["state"] in ("queued", "running")
        ]
        if not busy:
            return
        time.sleep(2)
    raise RuntimeError(f"runs still busy after {seconds:.0f} s: {busy}")


def run_cycle(topology: Topology, councils: int, attempt: int, sequence: int) -> Cycle:
    say(f"{topology.executor} {councils} councils (run {attempt}): emptying the register")
    settle(topology)
    reset_register(topology)
    say(f"{topology.executor} {councils} councils: loading the portfolio and five days of use")
    loaded = load_portfolio(topology, councils)
    say(
        f"  loaded in {loaded.seconds:.0f} s: {loaded.cases} cases ({loaded.open_cases} open, "
        f"{loaded.boards} boards), {loaded.ledger_rows:,} ledger rows"
    )
    runs = []
    cycle_started = time.monotonic()
    for n, dag_id in enumerate(CYCLE):
        run_id = f"national-{councils}-{attempt}-{dag_id}-{uuid.uuid4().hex[:6]}"
        before = emails_in(topology)
        started_at = time.monotonic()
        trigger_for_day(topology, dag_id, run_id, sequence * len(CYCLE) + n)
        run = topology.api.wait_run(dag_id, run_id, seconds=RUN_SECONDS)
        wall = time.monotonic() - started_at
        time.sleep(0.5)  # the catcher writes before it answers 250; this is for the rename
        timing = RunTime(
            dag_id=dag_id,
            run_id=run_id,
            wall_seconds=wall,
            run_seconds=_seconds(run.get("start_date"), run.get("end_date")),
            emails=emails_in(topology) - before,
            tasks=task_times(topology, dag_id, run_id),
        )
        runs.append(timing)
        say(f"  {dag_id}: {wall:.1f} s, {timing.emails} emails")
    wall = time.monotonic() - cycle_started
    engine = db.make_engine(topology.register_url)
    try:
        with db.transaction(engine) as session:
            decided = (
                session.scalar(
                    select(func.count(ReminderLedger.id)).where(
                        ReminderLedger.decided_on == DAY,
                        ~ReminderLedger.item.startswith(PACK_PREFIX),
                    )
                )
                or 0
            )
            sent = (
                session.scalar(
                    select(func.count(ReminderLedger.id)).where(
                        ReminderLedger.decided_on == DAY,
                        ReminderLedger.state == "sent",
                        ~ReminderLedger.item.startswith(PACK_PREFIX),
                    )
                )
                or 0
            )
            packs = (
                session.scalar(
                    select(func.count(BoardPack.id)).where(BoardPack.period_label == "May 2024")
                )
                or 0
            )
    finally:
        engine.dispose()
    say(
        f"  cycle {wall:.1f} s: {decided} reminders decided for {DAY:%A %-d %B %Y}, {sent} sent, "
        f"{packs} packs"
    )
    return Cycle(
        executor=topology.executor,
        councils=councils,
        attempt=attempt,
        loaded=loaded,
        wall_seconds=wall,
        runs=runs,
        reminders_decided=decided,
        reminders_sent=sent,
        packs_built=packs,
        load_average=os.getloadavg(),
    )


# -- output ---------------------------------------------------------------------------------------


def _task(run: RunTime, task_id: str) -> TaskTime | None:
    return next((t for t in run.tasks if t.task_id == task_id), None)


def table(cycles: list[Cycle]) -> str:
    columns = [
        ("executor", 8),
        ("councils", 8),
        ("run", 3),
        ("cycle s", 8),
        ("packs s", 8),
        ("make_pack n/sum/max", 19),
        ("send_packs", 10),
        ("clock s", 8),
        ("recompute", 9),
        ("reminders s", 11),
        ("decide", 7),
        ("send", 7),
        ("emails", 6),
        ("packs", 5),
        ("load", 4),
        ("retried", 7),
    ]
    lines = ["  ".join(f"{name:>{width}}" for name, width in columns)]
    for c in cycles:
        runs = {r.dag_id: r for r in c.runs}
        packs, clock, reminders = runs["board_pack"], runs["statutory_clock"], runs["reminders"]

        def s(run: RunTime, task_id: str) -> str:
            t = _task(run, task_id)
            return f"{t.seconds:.1f}" if t else "-"

        make = _task(packs, "make_pack")
        made = f"{make.instances}/{make.total_seconds:.0f}/{make.seconds:.1f}" if make else "0"
        values = [
            c.executor[:-8].lower(),
            str(c.councils),
            str(c.attempt),
            f"{c.wall_seconds:.1f}",
            f"{packs.wall_seconds:.1f}",
            made,
            s(packs, "send_packs"),
            f"{clock.wall_seconds:.1f}",
            s(clock, "recompute_clocks"),
            f"{reminders.wall_seconds:.1f}",
            s(reminders, "decide_reminders"),
            s(reminders, "send_reminders"),
            str(sum(r.emails for r in c.runs)),
            str(c.packs_built),
            f"{c.load_average[0]:.1f}",
            str(sum(t.retried for r in c.runs for t in r.tasks)),
        ]
        lines.append("  ".join(f"{v:>{w}}" for v, (_, w) in zip(values, columns, strict=True)))
    return "\n".join(lines)


@contextlib.contextmanager
def topology_for(executor: str, keep: Path | None) -> Iterator[Topology]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-national-{executor[:-8].lower()}-"))
    try:
        say(f"starting the {executor} topology in {workdir}")
        # Only the benchmark's runs: the scheduler makes no runs of its own (a first start's
        # catch-up runs, for today's date, would make packs and reminders of their own).
        with started(executor, workdir, extra_env=NO_SCHEDULE) as topology:
            say("  started: " + ", ".join(f"{k} {v:.0f} s" for k, v in topology.timings.items()))
            yield topology
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"  kept {workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--councils", default="15,50,153", help="sizes, comma-separated")
    parser.add_argument("--executor", default="local,celery", help="local, celery or both")
    parser.add_argument("--runs", type=int, default=1, help="cycles per size (fresh register)")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "national.json")
    parser.add_argument("--keep", action="store_true", help="keep the topologies' folders")
    args = parser.parse_args()
    if not os.environ.get("STATCLOCK_TEST_POSTGRES_URL"):
        parser.error("STATCLOCK_TEST_POSTGRES_URL is not set (scripts/test-postgres.sh)")
    try:
        sizes = [int(n) for n in args.councils.split(",")]
    except ValueError:
        parser.error(f"--councils: {args.councils!r} is not a list of numbers such as 15,50,153")
    if any(n < 1 or n > 900 for n in sizes):
        parser.error(f"--councils: {args.councils!r}: each size must be 1 to 900")
    names = [e.strip() for e in args.executor.split(",")]
    unknown = [e for e in names if e not in EXECUTORS]
    if unknown:
        parser.error(f"--executor: {','.join(unknown)!r} is not local or celery")
    if "celery" in names and shutil.which("redis-server") is None:
        parser.error("--executor celery: redis-server is missing (scripts/topology-deps.sh)")
    cycles: list[Cycle] = []
    started_at = dt.datetime.now(dt.UTC)
    for name in names:
        with topology_for(EXECUTORS[name], Path() if args.keep else None) as topology:
            sequence = 0
            for councils in sizes:
                for attempt in range(1, args.runs + 1):
                    cycles.append(run_cycle(topology, councils, attempt, sequence))
                    sequence += 1
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(
                        json.dumps(
                            {
                                "day": DAY.isoformat(),
                                "started": started_at.isoformat(timespec="seconds"),
                                "machine": {"cpus": os.cpu_count()},
                                "cycles": [asdict(c) for c in cycles],
                            },
                            indent=1,
                        )
                    )
    print(f"\nOne working day's cycle for {DAY:%A %-d %B %Y}; seconds; JSON in {args.out}")
    print(table(cycles))


if __name__ == "__main__":
    main()
