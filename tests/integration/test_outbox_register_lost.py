"""The register goes away after the relay has taken a message and before its row is recorded.

Sending it again on the task's retry would duplicate it, so the send waits for the register to
come back and records the row as sent (``record_accepted``). Here the register's session is cut
by PostgreSQL itself (``pg_terminate_backend``, what a restart or fail-over does to it) right
after the real mail catcher has accepted each of the first messages; the fault tests
(tests/topology/test_faults.py) stop the whole server for 30 seconds.
"""

from __future__ import annotations

import os
import smtplib
from collections import Counter
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from devtools.mailcatcher import MailCatcher
from statutory_clock.reminders import load_policy
from statutory_clock.store import db, register
from statutory_clock.store.db import transaction
from statutory_clock.store.models import ReminderLedger
from statutory_clock.store.outbox import plan_reminders, record_accepted, send_pending
from tests.seeds import barbara_owns_two_croydon_deadlines, seed_as_it_stood

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
DAY = date(2017, 12, 6)

pytestmark = pytest.mark.postgres


def cut_register_sessions(database: str) -> int:
    """End every session of the register's database that sits inside a transaction."""
    admin = create_engine(os.environ["STATCLOCK_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE pid <> pg_backend_pid() AND state = 'idle in transaction' "
                        "AND datname = :database"
                    ),
                    {"database": database},
                ).all()
            )
    finally:
        admin.dispose()


def test_rows_accepted_while_the_register_was_cut_off_are_sent_once(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(postgres_url)
    with transaction(engine) as session:
        for name in ("croydon-2017", "tower-hamlets-2017"):
            register.import_case(
                session, seed_as_it_stood(DEMO / f"{name}.yaml"), "tester", date(2017, 11, 1)
            )
    with transaction(engine) as session:
        barbara_owns_two_croydon_deadlines(session)
    with transaction(engine) as session:
        due = len(plan_reminders(session, DAY, load_policy(), "pm@council.example"))
    assert due >= 3
    cuts: list[int] = []
    database = make_url(postgres_url).database or ""
    with (
        MailCatcher(tmp_path / "mail") as catcher,
        smtplib.SMTP(catcher.host, catcher.port, timeout=10) as client,
    ):

        def send_then_cut(message: EmailMessage) -> None:
            client.send_message(message)  # the relay has it: 250
            if len(cuts) < 2:
                cuts.append(cut_register_sessions(database))  # and the register loses the commit

        report = send_pending(engine, send_then_cut, "statclock@council.example")
        delivered = Counter(str(m["Message-ID"]) for m in catcher.messages())
    # Two sending sessions were really ended mid-transaction (with any other of the pool's).
    assert len(cuts) == 2 and min(cuts) >= 1, cuts
    with transaction(engine) as session:
        rows = session.execute(select(ReminderLedger)).scalars().all()
        assert {r.state for r in rows} == {"sent"}
        assert report.sent == len(rows) == due
        assert sorted(delivered.values()) == [1] * len({r.message_id for r in rows})
        assert {str(r.message_id) for r in rows} == set(delivered)
    engine.dispose()


def test_record_accepted_gives_up_after_its_patience(postgres_url: str) -> None:
    """A register that stays away: the error propagates after the patience (the retry will send
    again: the duplicate that is documented), having waited with backoff meanwhile."""
    from sqlalchemy.exc import OperationalError

    from statutory_clock.store.outbox import _Accepted

    gone = db.make_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    waits: list[float] = []
    accepted = _Accepted((1,), "<r1.x@statclock>", datetime.now(UTC))
    with pytest.raises(OperationalError):
        record_accepted(gone, accepted, patience=20, wait=waits.append)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    gone.dispose()
