"""Benchmark: the at-least-once window of the reminder ledger, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_send_window.py [--messages 300] [--postgres URL]

``send_pending`` sends each ledger row in its own transaction: build the message, send it, mark
the row sent, commit. If the process dies (SIGKILL, power) after the relay has answered ``250``
to DATA and before the commit, the row is still pending and the next run sends the message
again: the one duplicate SMTP cannot rule out (the stable Message-ID lets receivers drop it).

This measures that window for every message: from the moment ``smtplib`` returns after the
relay's ``250`` to the moment the row's transaction has committed (SQLAlchemy's
``after_commit``), over ``--messages`` reminders sent through the project's mail catcher (a
real SMTP server on 127.0.0.1, which writes and fsyncs each message before answering 250). It
also reports the whole time per message, so the share of a run spent inside the window (the
chance that a crash at a random moment lands in it) can be read off. PostgreSQL: --postgres
URL, else $STATCLOCK_TEST_POSTGRES_URL; the benchmark creates and drops its own database there.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

# The mail catcher is a development tool at the repository's top level (devtools/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from devtools.mailcatcher import MailCatcher
from statutory_clock.store import db, register
from statutory_clock.store.casefile import load_case_file
from statutory_clock.store.models import MilestoneRecord, ReminderLedger
from statutory_clock.store.outbox import send_pending

CASE = Path(__file__).resolve().parents[1] / "include" / "demo" / "croydon-2017.yaml"
ITEM = "written_statement_of_action"  # due Monday 11 December 2017


def queue(engine: Engine, count: int) -> None:
    """``count`` pending reminders of Croydon's statement of action, one per recipient."""
    with db.transaction(engine) as session:
        register.import_case(session, load_case_file(CASE), "bench", date(2017, 11, 1))
    with db.transaction(engine) as session:
        milestone = session.execute(
            select(MilestoneRecord).where(MilestoneRecord.milestone_id == ITEM)
        ).scalar_one()
        for n in range(count):
            session.add(
                ReminderLedger(
                    inspection_id=milestone.inspection_id,
                    item=f"milestone:{ITEM}",
                    reminder_kind="before_5",
                    due_version=milestone.due_version,
                    due=milestone.effective_due,
                    recipient=f"member{n:04d}@croydon.gov.uk",
                    state="pending",
                    decided_on=date(2017, 12, 4),
                )
            )


def measure(url: str, count: int, label: str) -> None:
    engine = db.make_engine(url)
    queue(engine, count)
    accepted: list[float] = []
    windows: list[float] = []

    def after_commit(session: Session) -> None:
        if accepted:  # the row whose message was just accepted is now marked sent
            windows.append(time.perf_counter() - accepted.pop())

    event.listen(Session, "after_commit", after_commit)
    try:
        with tempfile.TemporaryDirectory() as mail_dir, MailCatcher(Path(mail_dir)) as catcher:
            with smtplib.SMTP(catcher.host, catcher.port, timeout=30) as client:
                send: Callable[[EmailMessage], Any] = client.send_message

                def timed(message: EmailMessage) -> None:
                    send(message)  # returns once the relay has answered 250 to DATA
                    accepted.append(time.perf_counter())

                started = time.perf_counter()
                report = send_pending(engine, timed, "statclock@council.example")
                elapsed = time.perf_counter() - started
            saved = len(catcher.files())
    finally:
        event.remove(Session, "after_commit", after_commit)
        engine.dispose()
    assert report.sent == count == saved == len(windows), (report, saved, len(windows))
    ms = sorted(w * 1000 for w in windows)
    per_message = elapsed * 1000 / count
    print(
        f"  {label}: {count} messages in {elapsed:.2f} s ({per_message:.1f} ms each); "
        f"250 -> commit: median {statistics.median(ms):.2f} ms, "
        f"p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, max {ms[-1]:.2f} ms; "
        f"{100 * sum(ms) / (elapsed * 1000):.0f}% of the run is inside the window"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("STATCLOCK_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print("The at-least-once window: relay's 250 to the ledger commit, per message")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'register.db'}"
        db.upgrade(url)
        measure(url, args.messages, "SQLite")
    if args.postgres:
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"statclock_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            db.upgrade(url)
            measure(url, args.messages, "PostgreSQL")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        print("  PostgreSQL skipped: pass --postgres URL or set STATCLOCK_TEST_POSTGRES_URL")


if __name__ == "__main__":
    main()
