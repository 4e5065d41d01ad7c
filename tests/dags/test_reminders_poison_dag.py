"""The reminders DAG with a poison row: a real dag.test() run, a real register and SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.mailcatcher import MailCatcher
from statutory_clock.store import db, register
from statutory_clock.store.models import ReminderLedger
from statutory_clock.store.watchdog import reminders_completed
from tests.dags.airflow_runner import run_dag_test
from tests.dags.test_dag_runs import MONDAY_4_DEC_2017, PM, env_for, load_demo

BAD = "debbie.jones@towerhamlets.gov.uk\n"  # accepted by the case file schema's "$" until now


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail") as catcher:
        yield catcher


def test_a_poison_row_fails_the_run_after_every_other_reminder_is_sent(
    sqlite_register_url, mail, tmp_path
):
    url = load_demo(sqlite_register_url)
    engine = db.make_engine(url)
    with db.transaction(engine) as session:  # bad data written before validation existed
        case = register.get_case(session, "tower-hamlets-2017")
        next(c for c in case.contacts if c.name == "Debbie Jones").email = BAD
        next(
            # the case audits are the council's act (an Ofsted visit is never chased)
            m
            for m in case.milestones
            if m.milestone_id == "monitoring_audits_due_2"
        ).owner = "Debbie Jones"

    run = run_dag_test(
        "reminders", env_for(url, mail), logical_date=MONDAY_4_DEC_2017, home=tmp_path
    )

    assert run.state == "failed"
    assert run.tasks == {
        "decide_reminders": "success",
        "send_reminders": "failed",
        "post_notices": "success",  # no chat channel: nothing to post
    }
    assert "1 email of 3 could not be sent and is marked failed" in run.stdout + run.stderr
    with db.transaction(engine) as session:
        rows = session.execute(
            select(ReminderLedger.recipient, ReminderLedger.state).order_by(ReminderLedger.id)
        ).all()
    assert sorted(state for _, state in rows) == ["failed", "sent", "sent"]
    assert [state for recipient, state in rows if recipient == BAD] == ["failed"]
    subjects = [str(m["Subject"]) for m in mail.messages()]
    assert len(subjects) == 3  # two reminders and the programme manager's notice
    assert subjects.count("statclock: 1 email could not be sent") == 1
    assert all(m["To"] == PM for m in mail.messages())
    assert reminders_completed(engine, date(2017, 12, 4))  # no false alarm from the watchdog
    engine.dispose()
