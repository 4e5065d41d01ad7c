"""The daily digest: a contact who chose it gets one email a day, and each reminder still once.

Real databases (SQLite and PostgreSQL), the project's mail catcher as the SMTP server, smtplib,
and the register's own commands for the contact's choice (audited like any other change).
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from devtools.mailcatcher import MailCatcher
from statutory_clock.reminders import load_policy
from statutory_clock.store import register
from statutory_clock.store.casefile import CaseFileError, dump_case_file, parse_case_text
from statutory_clock.store.contacts import set_reminders
from statutory_clock.store.db import transaction
from statutory_clock.store.models import AuditEvent, ReminderLedger
from statutory_clock.store.outbox import SendReport, plan_reminders, send_pending
from tests.seeds import BARBARA, barbara_owns_two_croydon_deadlines, seed_as_it_stood

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
PM = "programme.manager@council.example"
SENDER = "statclock@council.example"
BASE = "https://airflow.council.example"
# A Wednesday: Croydon's statement of action is due in 3 working days and its first monitoring
# visit in 20; Tower Hamlets' case audits for its second monitoring visit are overdue.
DAY = date(2017, 12, 6)
DIGEST_SUBJECT = "2 statutory deadlines to act on – Wednesday 6 December 2017"


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail") as catcher:
        yield catcher


@pytest.fixture
def demo(register_engine: Engine) -> Engine:
    """Croydon and Tower Hamlets, with Barbara Peacock owning two of Croydon's deadlines and
    choosing the daily digest."""
    with transaction(register_engine) as session:
        for name in ("croydon-2017", "tower-hamlets-2017"):
            register.import_case(
                session, seed_as_it_stood(DEMO / f"{name}.yaml"), "tester", date(2017, 11, 1)
            )
        barbara_owns_two_croydon_deadlines(session)
    with transaction(register_engine) as session:
        change = set_reminders(session, "croydon-2017", "Barbara Peacock", "daily digest", "pm")
    assert (change.old, change.new) == ("each", "daily digest")
    return register_engine


def plan(engine: Engine) -> int:
    with transaction(engine) as session:
        return len(plan_reminders(session, DAY, load_policy(), PM))


def send(engine: Engine, mail: MailCatcher) -> SendReport:
    with smtplib.SMTP("127.0.0.1", mail.port, timeout=10) as client:

        def deliver(message: EmailMessage) -> None:
            client.send_message(message)

        return send_pending(engine, deliver, SENDER, base_url=BASE)


def rows(engine: Engine) -> list[tuple[str, str, str, str | None, int]]:
    with transaction(engine) as session:
        found = session.execute(
            select(
                ReminderLedger.item,
                ReminderLedger.recipient,
                ReminderLedger.state,
                ReminderLedger.message_id,
                ReminderLedger.attempts,
            ).order_by(ReminderLedger.id)
        ).all()
    return [tuple(r) for r in found]  # type: ignore[misc]


def to(mail: MailCatcher, address: str) -> list[EmailMessage]:
    return [m for m in mail.messages() if m["To"] == address]


def test_a_digest_contact_gets_one_email_for_the_day_and_each_reminder_once(demo, mail):
    assert plan(demo) == 3  # still one ledger row per reminder and recipient
    report = send(demo, mail)
    assert (report.sent, report.failed, report.digests) == (3, 0, 1)

    (digest,) = to(mail, BARBARA)
    assert digest["Subject"] == DIGEST_SUBJECT and len(digest["Subject"]) < 80
    assert digest["X-Statclock-Digest"] == "2 reminders; decided 2017-12-06"
    text = digest.get_body(("plain",)).get_content()
    for heading in (
        "Due in 3 working days: Written statement of action",
        "Due in 20 working days: First monitoring visit",
    ):
        assert heading in text
    assert text.count(f"Open Croydon in statclock: {BASE}/statclock/councils/croydon-2017") == 2
    assert [a.get_filename() for a in digest.iter_attachments()] == [
        "croydon-2017-written_statement_of_action.ics",
        "croydon-2017-first_monitoring_visit.ics",
    ]
    (to_pm,) = to(mail, PM)  # someone who did not choose the digest: one email per reminder
    assert to_pm["Subject"].startswith("Overdue by ")
    barbaras = [r for r in rows(demo) if r[1] == BARBARA]
    assert [state for _, _, state, _, _ in barbaras] == ["sent", "sent"]
    assert {message_id for _, _, _, message_id, _ in barbaras} == {digest["Message-ID"]}
    assert digest["Message-ID"].startswith("<d")

    # The same day again (a retried task, a manual re-run): nothing decided, nothing sent.
    assert plan(demo) == 0
    again = send(demo, mail)
    assert (again.sent, again.failed, again.digests) == (0, 0, 0)
    assert len(mail.messages()) == 2

    with transaction(demo) as session:
        audited = session.execute(
            select(AuditEvent.actor, AuditEvent.old, AuditEvent.new).where(
                AuditEvent.action == "contact changed", AuditEvent.field == "reminders"
            )
        ).all()
    assert [(old, new) for _, old, new in audited] == [("each", "daily digest")]


def test_a_row_that_cannot_be_built_fails_alone_and_the_rest_of_the_digest_goes(demo, mail):
    with transaction(demo) as session:  # Barbara is a contact of Tower Hamlets' case too
        tower = register.get_case(session, "tower-hamlets-2017")
        debbie = next(c for c in tower.contacts if c.name == "Debbie Jones")
        debbie.email, debbie.reminders = BARBARA, "daily digest"
        next(
            m for m in tower.milestones if m.milestone_id == "monitoring_audits_due_2"
        ).owner = "Debbie Jones"
    assert plan(demo) >= 3
    with transaction(demo) as session:  # then bad data, as if written by an old version
        tower = register.get_case(session, "tower-hamlets-2017")
        tower.milestones[0].extended_to = date(9999, 12, 31)

    report = send(demo, mail)
    failed = {f.item: f for f in report.failures if f.recipient == BARBARA}
    assert list(failed) == ["milestone:monitoring_audits_due_2"]
    assert failed["milestone:monitoring_audits_due_2"].reason.startswith("OverflowError")
    assert report.digests == 1
    (digest,) = to(mail, BARBARA)
    assert digest["Subject"] == DIGEST_SUBJECT  # the two Croydon reminders, together
    states = {(item, state) for item, recipient, state, _, _ in rows(demo) if recipient == BARBARA}
    assert states == {
        ("milestone:written_statement_of_action", "sent"),
        ("milestone:first_monitoring_visit", "sent"),
        ("milestone:monitoring_audits_due_2", "failed"),
    }

    # The next try retries only the failed row; nothing already sent goes again.
    count = len(mail.messages())
    retry = send(demo, mail)
    assert (retry.sent, retry.digests) == (0, 0)
    assert [f.item for f in retry.failures if f.recipient == BARBARA] == [
        "milestone:monitoring_audits_due_2"
    ]
    assert len(mail.messages()) == count
    attempts = [a for item, r, _, _, a in rows(demo) if r == BARBARA and "audits" in item]
    assert attempts == [2]


def test_a_digest_to_an_unusable_address_fails_each_of_its_rows_and_the_rest_go(demo, mail):
    with transaction(demo) as session:  # an address written before validation existed
        croydon = register.get_case(session, "croydon-2017")
        next(c for c in croydon.contacts if c.name == "Barbara Peacock").email = f"{BARBARA}\n"
    plan(demo)
    report = send(demo, mail)
    assert sorted(f.item for f in report.failures) == [
        "milestone:first_monitoring_visit",
        "milestone:written_statement_of_action",
    ]
    assert all(f.reason.startswith("MessageBuildError: To:") for f in report.failures)
    assert (report.sent, report.digests) == (1, 0)
    assert [m["To"] for m in mail.messages()] == [PM]


def test_choosing_each_again_sends_one_email_per_reminder(demo, mail):
    with transaction(demo) as session:
        back = set_reminders(session, "croydon-2017", "Barbara Peacock", "each", "pm")
        same = set_reminders(session, "croydon-2017", "Barbara Peacock", "each", "pm")
    assert back.changed and not same.changed
    plan(demo)
    assert send(demo, mail).digests == 0
    assert sorted(m["Subject"] for m in to(mail, BARBARA)) == [
        "Due in 20 working days: first monitoring visit – Croydon",
        "Due in 3 working days: written statement of action – Croydon",
    ]


@pytest.mark.parametrize(
    ("contact", "choice", "message"),
    [
        ("Barbara Peacock", "weekly", "reminders: 'weekly' is not one of: each, daily digest"),
        ("Nobody", "each", "contact: 'Nobody' is not a contact of case croydon-2017"),
    ],
)
def test_a_bad_choice_or_contact_is_refused_in_one_line(demo, contact, choice, message):
    with pytest.raises(register.RegisterError) as refused, transaction(demo) as session:
        set_reminders(session, "croydon-2017", contact, choice, "pm")
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_the_choice_travels_in_the_case_file(register_engine, tmp_path):
    text = (DEMO / "croydon-2017.yaml").read_text(encoding="utf-8")
    barbara = "  - name: Barbara Peacock\n"
    edited = tmp_path / "croydon-2017.yaml"
    edited.write_text(text.replace(barbara, f"{barbara}    reminders: daily digest\n"), "utf-8")
    doc = seed_as_it_stood(edited)
    with transaction(register_engine) as session:
        register.import_case(session, doc, "tester", date(2017, 11, 1))
        exported = register.export_case(register.get_case(session, "croydon-2017"))
    (chose,) = [c for c in exported.contacts if c.name == "Barbara Peacock"]
    assert chose.reminders == "daily digest"
    assert {c.reminders for c in exported.contacts if c.name != "Barbara Peacock"} == {"each"}
    assert "  reminders: daily digest\n" in dump_case_file(exported)

    with pytest.raises(CaseFileError) as refused:
        parse_case_text(text.replace(barbara, f"{barbara}    reminders: weekly\n"), "x.yaml")
    assert str(refused.value).endswith(
        "reminders: 'weekly' is not valid here (expected one of each, daily digest)"
    )


def test_the_command_line_sets_the_choice_and_case_show_says_it(tmp_path):
    from tests.integration.test_register_cli import run

    db = tmp_path / "register.db"
    assert run(db, "demo", "load", "--as-of", "2017-10-02").returncode == 0
    chose = run(db, "case", "reminders", "croydon-2017", "Barbara Peacock", "daily-digest")
    assert chose.returncode == 0, chose.stderr
    assert chose.stdout.strip() == (
        "Barbara Peacock of croydon-2017 now gets one email a day listing every reminder for "
        "them (was: each)."
    )
    shown = run(db, "case", "show", "croydon-2017", "--as-of", "2017-10-02").stdout
    assert "  Barbara Peacock, " in shown and shown.count("; reminders daily digest") == 1
    trail = run(db, "case", "audit", "croydon-2017").stdout
    assert "contact changed" in trail and "each -> daily digest" in trail
    for args, problem in [
        (("Barbara Peacock", "weekly"), "argument choice: invalid choice: 'weekly'"),
        (("Nobody", "each"), "contact: 'Nobody' is not a contact of case croydon-2017"),
        (("Barbara\nPeacock", "each"), "argument contact: 'Barbara\\nPeacock' contains a line"),
    ]:
        refused = run(db, "case", "reminders", "croydon-2017", *args)
        assert refused.returncode == 2 and refused.stdout == ""
        assert len(refused.stderr.splitlines()) == 1 and problem in refused.stderr, refused.stderr
