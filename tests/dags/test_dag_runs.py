"""Real `dag.test()` runs of the clock, reminders, registration and watchdog DAGs.

Each run uses a real case register (SQLite file or PostgreSQL server), a real SMTP server
(devtools.mailcatcher) and Airflow's own dag.test() in a subprocess with a fresh home.
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from devtools.mailcatcher import MailCatcher
from statutory_clock.store import db, register
from statutory_clock.store.casefile import parse_case_text
from statutory_clock.store.models import AuditEvent, Inspection, ReminderLedger
from tests.dags.airflow_runner import run_dag_test
from tests.dags.conftest import PM, env_for, load_demo, smtp_env

MONDAY_4_DEC_2017 = "2017-12-04T07:30:00+00:00"  # the reminders slot on that working day


def ledger_rows(url: str) -> list[tuple[str, str, str]]:
    engine = db.make_engine(url)
    with db.transaction(engine) as session:
        rows = session.execute(
            select(
                ReminderLedger.item, ReminderLedger.reminder_kind, ReminderLedger.state
            ).order_by(ReminderLedger.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def by_subject(messages: list[EmailMessage], fragment: str) -> EmailMessage:
    found = [m for m in messages if fragment in m["Subject"]]
    assert len(found) == 1, [m["Subject"] for m in messages]
    return found[0]


def test_reminders_are_sent_exactly_once(register_url, mail, tmp_path):
    demo_register = load_demo(register_url)
    env = env_for(demo_register, mail)
    first = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert first.state == "success", first.tail()
    assert first.tasks == {
        "decide_reminders": "success",
        "send_reminders": "success",
        "post_notices": "success",
    }
    messages = mail.messages()
    assert messages, "the demo councils have deadlines around 4 December 2017"
    wsoa = by_subject(messages, "written statement of action – Croydon")
    assert wsoa["Subject"].startswith("Due in 5 working days: ")
    assert wsoa["To"] == PM
    text = wsoa.get_body(preferencelist=("plain",)).get_content()
    html = wsoa.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "SI 2007/462 reg 3" in body and "Due Monday 11 December 2017" in body
        assert "70 working days after Monday 4 September 2017 (publication)" in body
    ics = next(p for p in wsoa.iter_attachments() if p.get_content_type() == "text/calendar")
    event = next(iter(Calendar.from_ical(ics.get_content()).walk("VEVENT")))
    assert event.decoded("dtstart") == date(2017, 12, 11)
    assert str(event["uid"]) == "croydon-2017-milestone-written_statement_of_action@statclock"
    assert first.xcom["send_reminders"] == len(messages)

    # The same day again: the ledger already holds every decision, so nothing new goes out.
    again = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert again.state == "success", again.tail()
    assert again.xcom == {"decide_reminders": 0, "send_reminders": 0}
    assert len(mail.messages()) == len(messages)
    assert all(state == "sent" for _, _, state in ledger_rows(demo_register))


def test_mail_server_down_fails_the_task_and_loses_nothing(demo_register, tmp_path):
    with MailCatcher(tmp_path / "unused") as stopped:
        dead_port = stopped.port  # free now, and nothing listens once the catcher stops
    env = {
        "STATCLOCK_DATABASE_URL": demo_register,
        "AIRFLOW_CONN_STATCLOCK_SMTP": smtp_env(dead_port),
        "STATCLOCK_PROGRAMME_MANAGER": PM,
    }
    down = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert down.state == "failed"
    assert down.tasks == {
        "decide_reminders": "success",
        "send_reminders": "failed",
        "post_notices": "success",  # no chat channel: nothing to post
    }
    pending = ledger_rows(demo_register)
    assert pending and all(state == "pending" for _, _, state in pending)

    with MailCatcher(tmp_path / "mail", port=dead_port) as mail:  # the server comes back
        retry = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
        assert retry.state == "success", retry.tail()
        assert len(mail.messages()) == len(pending)  # each decided reminder, once
    assert all(state == "sent" for _, _, state in ledger_rows(demo_register))


def test_a_missed_day_sends_the_most_relevant_reminder_not_a_burst(demo_register, mail, tmp_path):
    # No run since the import on 1 November; on 11 December the statement of action is due
    # today: one "due today" reminder, not the 20/10/5/1-day ones it missed.
    env = env_for(demo_register, mail)
    run = run_dag_test("reminders", env, logical_date="2017-12-11T07:30:00+00:00", home=tmp_path)
    assert run.state == "success", run.tail()
    wsoa = [
        m
        for m in mail.messages()
        if "written statement" in m["Subject"] and m["Subject"].endswith("– Croydon")
    ]
    assert [m["Subject"].split(":")[0] for m in wsoa] == ["Due today"]


def test_a_moved_deadline_sends_one_change_notice(demo_register, mail, tmp_path):
    env = env_for(demo_register, mail)
    assert (
        run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path).state
        == "success"
    )
    engine = db.make_engine(demo_register)
    with db.transaction(engine) as session:
        register.adjust_milestone(
            session,
            "croydon-2017",
            "written_statement_of_action",
            "pm",
            date(2017, 12, 5),
            "Ofsted agreed more time",
            "Ofsted",
            extended_to=date(2017, 12, 18),
        )
    engine.dispose()
    before = len(mail.messages())
    for _ in range(2):
        run = run_dag_test(
            "reminders", env, logical_date="2017-12-05T07:30:00+00:00", home=tmp_path
        )
        assert run.state == "success", run.tail()
    new = mail.messages()[before:]
    change = by_subject(new, "Deadline changed")
    assert change["Subject"] == "Deadline changed: written statement of action – Croydon"
    text = change.get_body(("plain",)).get_content()
    assert "Now due Monday 18 December 2017" in text and "It was Monday 11 December 2017" in text


def test_statutory_clock_updates_statuses_as_of_the_run(demo_register, tmp_path):
    run = run_dag_test(
        "statutory_clock",
        {"STATCLOCK_DATABASE_URL": demo_register},
        logical_date="2017-12-12T07:00:00+00:00",
        home=tmp_path,
    )
    assert run.state == "success", run.tail()
    engine = db.make_engine(demo_register)
    with db.transaction(engine) as session:  # every open case; bromley-2010 is superseded
        live = session.execute(select(func.count()).where(Inspection.open)).scalar_one()
    assert 0 < live < 5
    assert run.xcom["recompute_clocks"]["cases"] == live
    with db.transaction(engine) as session:
        croydon = register.get_case(session, "croydon-2017")
        wsoa = {m.milestone_id: m for m in croydon.milestones}["written_statement_of_action"]
        assert (wsoa.status, wsoa.status_as_of) == ("overdue", date(2017, 12, 12))
        actors = set(session.execute(select(AuditEvent.actor)).scalars())
    engine.dispose()
    # The audit trail names who triggered the run: dag.test() triggers as the user "dag_test"
    # (a scheduled run, which no user triggers, records "statutory_clock DAG").
    assert "dag_test" in actors


REGISTRATION = {
    "local_authority": "Exampleshire County Council",
    "dfe_code": "999",
    "framework": "ilacs",
    "published": "2025-03-03",
    "received": None,
    "overall_judgement": "inadequate",
    "judgements": {},
    "direction": "2025-03-20",
    "recommendations": [
        "Within three months | Review every child in need plan",
        "Strengthen management oversight",
    ],
    "programme_manager_email": "pm@exampleshire.example",
    "case_key": None,
}


EARLIER = """schema_version: 1
key: exampleshire-2017
local_authority: {name: Exampleshire County Council, dfe_code: "999"}
inspection: {framework: sif, published: 2017-09-04, judgements: {overall: inadequate}}
"""


def test_register_inspection_writes_the_case_and_emits_the_asset(sqlite_register_url, tmp_path):
    register_url = sqlite_register_url
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:  # the council's earlier inspection, still open
        register.import_case(session, parse_case_text(EARLIER, "x"), "pm", date(2017, 9, 4))
    engine.dispose()
    run = run_dag_test(
        "register_inspection",
        {"STATCLOCK_DATABASE_URL": register_url},
        conf=REGISTRATION,
        home=tmp_path,
    )
    assert run.state == "success", run.tail()
    assert run.xcom["register_case"] == "exampleshire-2025"
    assert [e["name"] for e in run.asset_events] == ["statclock_register_cases"]
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        case = register.get_case(session, "exampleshire-2025")
        due = {m.milestone_id: m.due for m in case.milestones}
        # By hand: 20 working days left in March, 20 in April (Easter), 20 in May (two bank
        # holidays), then the 10th working day of June.
        assert due["written_statement_of_action"] == date(2025, 6, 13)
        assert "commissioner_report" in due and len(case.recommendations) == 2
        assert case.contacts[0].email == "pm@exampleshire.example"
        # Registering it closed the earlier inspection, in the same transaction.
        earlier = register.get_case(session, "exampleshire-2017")
        assert (earlier.open, earlier.closed_reason, earlier.superseded_by) == (
            False,
            "superseded",
            "exampleshire-2025",
        )
        assert earlier.closed_on == date(2025, 3, 3)
    engine.dispose()
    assert "closed as superseded: exampleshire-2017" in run.stdout + run.stderr


def test_an_impossible_date_is_refused_by_the_trigger_form(sqlite_register_url, tmp_path):
    register_url = sqlite_register_url
    bad = {**REGISTRATION, "published": "2025-02-30"}
    with pytest.raises(AssertionError, match="Invalid input for param published: '2025-02-30'"):
        run_dag_test(
            "register_inspection", {"STATCLOCK_DATABASE_URL": register_url}, conf=bad, home=tmp_path
        )


def test_invalid_registration_is_refused_and_writes_nothing(sqlite_register_url, tmp_path):
    register_url = sqlite_register_url
    # Well-formed, so the form accepts it, but adequate is not on the ILACS scale.
    bad = {**REGISTRATION, "overall_judgement": "adequate"}
    run = run_dag_test(
        "register_inspection",
        {"STATCLOCK_DATABASE_URL": register_url},
        conf=bad,
        home=tmp_path,
        retries=None,
    )
    assert run.state == "failed"
    assert run.tasks == {"register_case": "failed"}
    output = run.stdout + run.stderr
    assert "Not registered: overall_judgement: 'adequate' is not on the ilacs scale" in output
    assert "Traceback" not in output
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        assert session.execute(select(func.count()).select_from(Inspection)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0
    engine.dispose()
