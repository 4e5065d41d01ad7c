"""Benchmark: the programme manager's page, its JSON API and calendar feed, server side.

    PYTHONPATH=include .venv/bin/python benchmarks/bench_ui.py [--postgres URL] [--councils 153]
        [--requests 30] [--warmups 3]

A synthetic portfolio (benchmarks/bench_register.py's: 153 councils x 3 inspections, 20
recommendations and 60 actions each; the two earlier inspections of each council closed as
superseded, so 153 open cases), with what a register holds after a year of use: the daily
reminders sent for every council milestone and action already due (two recipients each), and
a monthly board pack archived for each of the last twelve months. Built in SQLite and in
PostgreSQL (--postgres URL, else $STATCLOCK_TEST_POSTGRES_URL; the benchmark creates and drops
its own database there).

Then, in this process, requests to the plugin's FastAPI app mounted at /statclock as the
Airflow API server mounts it, through FastAPI's TestClient, authenticated as a real Airflow user
(the simple auth manager, a JWT it signed, in the ``_token`` cookie as the browser sends it):

    portfolio page      GET /statclock/                         target < 150 ms
    council page        GET /statclock/councils/{key}           target < 100 ms
    portfolio feed      GET /statclock/feeds/portfolio.ics      target < 300 ms
    JSON portfolio      GET /statclock/api/portfolio            target < 100 ms

Each is requested --warmups times, then --requests times (the council page cycles through the
councils); the table gives the median and the 90th percentile of the server time (the
TestClient adds no network; its in-process transport is under a millisecond). A route the app
does not have yet is reported as such. Before the routes, the read-model calls they are built on
(``read_model.portfolio``, ``read_model.case_view``, ``to_json`` of the portfolio) are timed the
same way, each in its own session as a request has.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.synthetic
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "include"))

from bench_register import synthetic_portfolio  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from statutory_clock.store import db, register  # noqa: E402
from statutory_clock.store.case_document import CaseDocument  # noqa: E402
from statutory_clock.store.models import (  # noqa: E402
    BoardPack,
    Inspection,
    MilestoneRecord,
    ReminderLedger,
)
from tests.synthetic import archived_pack  # noqa: E402

# The day the register is built as of. The pages show it as of today (the wall clock), which
# changes only which statuses the rows show, not how much there is to show.
BUILT_ON = date(2024, 6, 7)
TARGETS_MS = {
    "portfolio page": 150,
    "council page": 100,
    "portfolio feed": 300,
    "JSON portfolio": 100,
}
REMINDER_KINDS = ("before_5", "due_today")
RECIPIENTS = ("pm@council{code}.gov.uk", "lead@council{code}.gov.uk")


# -- the register --------------------------------------------------------------------------------


def build_register(url: str, councils: int) -> list[str]:
    """Migrate ``url`` and fill it with the synthetic portfolio; the open cases' keys."""
    db.upgrade(url)
    engine = db.make_engine(url)
    started = time.perf_counter()
    docs = synthetic_portfolio(councils)
    with db.transaction(engine) as session:
        for doc in docs:  # oldest first per council: each new one supersedes the last
            register.import_case(session, CaseDocument.from_dict(doc), "benchmark", BUILT_ON)
    with db.transaction(engine) as session:
        _history(session)
        keys = list(
            session.execute(
                select(Inspection.key).where(Inspection.open.is_(True)).order_by(Inspection.key)
            ).scalars()
        )
    engine.dispose()
    print(f"    built in {time.perf_counter() - started:.1f} s", flush=True)
    return keys


def _history(session: Session) -> None:
    """A year of use, written as the outbox and the pack archive write their rows: reminders
    sent for every council milestone and action due by BUILT_ON, and twelve monthly packs."""
    cases = session.execute(select(Inspection).where(Inspection.open.is_(True))).scalars().all()
    for case in cases:
        code = case.local_authority.dfe_code
        items: list[tuple[str, date]] = [
            (f"milestone:{m.milestone_id}", m.effective_due)
            for m in session.execute(
                select(MilestoneRecord).where(
                    MilestoneRecord.inspection_id == case.id,
                    MilestoneRecord.party == "council",
                    MilestoneRecord.due <= BUILT_ON,
                )
            ).scalars()
        ]
        items += [
            (f"action:{a.position}", a.target_date)
            for a in case.actions
            if a.target_date is not None and a.target_date <= BUILT_ON
        ]
        for item, due in items:
            for kind, days_before in zip(REMINDER_KINDS, (7, 0), strict=True):
                sent = datetime.combine(due - timedelta(days=days_before), datetime.min.time())
                for recipient in RECIPIENTS:
                    session.add(
                        ReminderLedger(
                            inspection_id=case.id,
                            item=item,
                            reminder_kind=kind,
                            due_version=1,
                            due=due,
                            recipient=recipient.format(code=code),
                            state="sent",
                            decided_on=sent.date(),
                            sent_at=sent.replace(hour=8, tzinfo=UTC),
                            message_id=f"<{uuid.uuid4().hex}@statclock.invalid>",
                            attempts=1,
                        )
                    )
        for month in range(12):
            end = date(BUILT_ON.year, BUILT_ON.month, 1) - timedelta(days=1 + 31 * month)
            start = end.replace(day=1)
            created_at = datetime.combine(end + timedelta(days=7), time_of_day(7, 0), UTC)
            session.add(archived_pack(case, start, end, created_at))
    session.flush()
    sent = session.execute(select(ReminderLedger.id)).all()
    packs = session.execute(select(BoardPack.id)).all()
    print(f"    {len(cases)} open cases, {len(sent):,} reminders sent, {len(packs):,} packs")


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``admin_url``, dropped afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"statclock_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- timing --------------------------------------------------------------------------------------


Timings = tuple[list[float], list[float]]  # wall-clock and CPU milliseconds of each request


def timed(call: Callable[[int], Any], warmups: int, requests: int) -> Timings:
    """Milliseconds of each of ``requests`` calls (call(i)), after ``warmups`` untimed ones:
    wall-clock time, and the CPU time this process used (the server's work, and the client's,
    which is small): on a shared machine the second shows what the code costs when another
    process takes the cores."""
    for i in range(warmups):
        call(i)
    wall, cpu = [], []
    for i in range(requests):
        started, used = time.perf_counter(), time.process_time()
        call(i)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return wall, cpu


def p90(times: list[float]) -> float:
    return statistics.quantiles(times, n=10, method="inclusive")[-1]


def row(label: str, name: str, times: Timings | None, note: str = "") -> str:
    target = TARGETS_MS.get(name)
    if times is None:
        figures = f"{'-':>8} {'-':>8} {'-':>8}"
        verdict = note
    else:
        wall, cpu = times
        median = statistics.median(wall)
        figures = f"{median:8.1f} {p90(wall):8.1f} {statistics.median(cpu):8.1f}"
        verdict = "" if target is None else ("ok" if median < target else "OVER")
    goal = f"< {target}" if target else ""
    return f"  {label:<11} {name:<24} {figures} {goal:>6}  {verdict}"


def header() -> str:
    return (
        f"  {'database':<11} {'request':<24} {'median':>8} {'p90':>8} {'CPU med':>8} "
        f"{'target':>6}  (ms)"
    )


# -- the read model ------------------------------------------------------------------------------


def read_model_rows(url: str, keys: list[str], label: str, warmups: int, n: int) -> list[str]:
    from statclock_airflow.ui.context import today
    from statutory_clock.store import read_model

    engine = db.make_engine(url)
    as_of = today()

    def portfolio(_: int) -> Any:
        with Session(engine) as session:
            return read_model.portfolio(session, as_of)

    def council(i: int) -> Any:
        with Session(engine) as session:
            return read_model.case_view(session, keys[i % len(keys)], as_of)

    def portfolio_json(_: int) -> Any:
        import json

        with Session(engine) as session:
            return json.dumps(read_model.to_json(read_model.portfolio(session, as_of)))

    rows = [
        row(label, "read_model.portfolio", timed(portfolio, warmups, n)),
        row(label, "read_model.case_view", timed(council, warmups, n)),
        row(label, "portfolio to JSON text", timed(portfolio_json, warmups, n)),
    ]
    engine.dispose()
    return rows


# -- the routes ----------------------------------------------------------------------------------


def airflow_app(home: Path) -> tuple[Any, dict[str, str]]:
    """Airflow's own API server app, with the project's plugins, and the cookie a browser
    would send for its user "bench" (admin): a JWT the auth manager itself signed.

    A new Airflow home (its metadata database migrated by ``airflow db migrate``) and the
    simple auth manager, as ``./run.sh`` starts the product; the plugin's register is whatever
    STATCLOCK_DATABASE_URL says when a request comes (set per database by :func:`route_rows`).
    """
    import subprocess

    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bench:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex * 2,
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex * 2,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        cwd=REPO,
        timeout=600,
    )
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    app = create_app()
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="bench", role="admin"))
    return app, {COOKIE_NAME_JWT_TOKEN: token}


def portfolio_feed_token(url: str) -> str:
    """The whole-portfolio feed's token, as `statclock feed url --portfolio` prints it."""
    from statutory_clock.store.feed_tokens import PORTFOLIO, feed_token

    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            return feed_token(session, PORTFOLIO)
    finally:
        engine.dispose()


def route_rows(
    url: str, keys: list[str], label: str, app: Any, cookies: dict[str, str], args: Any
) -> list[str]:
    from fastapi.testclient import TestClient

    from statclock_airflow.ui import context

    os.environ["STATCLOCK_DATABASE_URL"] = url
    context.engine.cache_clear()
    token = portfolio_feed_token(url)
    requests: list[tuple[str, Callable[[int], str]]] = [
        ("portfolio page", lambda i: "/statclock/"),
        ("council page", lambda i: f"/statclock/councils/{keys[i % len(keys)]}"),
        ("portfolio feed", lambda i: f"/statclock/feeds/portfolio.ics?token={token}"),
        ("JSON portfolio", lambda i: "/statclock/api/portfolio"),
    ]
    rows = []
    client = TestClient(app, cookies=cookies)
    for name, address in requests:
        answer = client.get(address(0))
        if answer.status_code != 200:
            rows.append(row(label, name, None, f"GET {address(0)}: {answer.status_code}"))
            continue

        def get(i: int, address: Callable[[int], str] = address) -> None:
            answer = client.get(address(i))
            if answer.status_code != 200:
                raise RuntimeError(f"GET {address(i)}: {answer.status_code} {answer.text[:300]}")

        rows.append(row(label, name, timed(get, args.warmups, args.requests)))
    context.engine().dispose()
    context.engine.cache_clear()
    return rows


def run(
    url: str, label: str, args: argparse.Namespace, app: Any, cookies: dict[str, str]
) -> list[str]:
    print(f"  {label}: building the register", flush=True)
    keys = build_register(url, args.councils)
    rows = read_model_rows(url, keys, label, args.warmups, args.requests)
    rows += route_rows(url, keys, label, app, cookies, args)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--councils", type=int, default=153)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("STATCLOCK_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STATCLOCK_CACHE_DIR"] = str(Path(tmp) / "cache")
        print("  Airflow: migrating a metadata database for the API server app", flush=True)
        app, cookies = airflow_app(Path(tmp) / "airflow")
        if not args.no_sqlite:
            rows += run(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", args, app, cookies)
        if args.postgres:
            with postgres_database(args.postgres) as url:
                rows += run(url, "PostgreSQL", args, app, cookies)
        else:
            rows.append("  PostgreSQL skipped: no --postgres URL nor STATCLOCK_TEST_POSTGRES_URL")
    print(
        f"\n{args.councils} councils; {args.requests} timed requests after {args.warmups} "
        "warm-ups each; server time in milliseconds"
    )
    print(header())
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
