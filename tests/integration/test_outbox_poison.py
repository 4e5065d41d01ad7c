"""The mail path with bad data already in the register: poison rows, hostile names, Message-IDs.

Real databases (SQLite and PostgreSQL), a real SMTP server (the project's mail catcher, acting
as a relay that refuses or drops where a test says so) and smtplib; the register's data is
corrupted directly, as if written before input validation existed.
"""

from __future__ import annotations

import re
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from statutory_clock.board_pack.assemble import compose_pack_email
from statutory_clock.reminders import load_policy
from statutory_clock.store import register
from statutory_clock.store.db import transaction
from statutory_clock.store.delivery import FAILURE_REPORTED, DeliveryFailed, run_sends
from statutory_clock.store.models import (
    AuditEvent,
    BoardPack,
    Inspection,
    ReminderLedger,
)
from statutory_clock.store.outbox import (
    MAX_SEND_ATTEMPTS,
    PACK_PREFIX,
    SendReport,
    ledger_message_id,
    plan_reminders,
    queue_pack,
    send_pending,
)
from statutory_clock.store.watchdog import reminders_completed
from tests.integration.relay import Relay
from tests.seeds import seed_as_it_stood

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
PM = "programme.manager@council.example"
SENDER = "statclock@council.example"
# A Wednesday: Croydon's statement of action is due in 3 working days, and Tower Hamlets' case
# audits for its second monitoring visit (the council's act) are 5 working days overdue.
REMINDER_DAY = date(2017, 12, 6)
AUDITS = "monitoring_audits_due_2"
AUDITS_ITEM = f"milestone:{AUDITS}"
ENCODED_WORD = "=?utf-8?q?X=0D=0AReply-To:_attacker@example.com=0D=0ABcc:_a@example.com?="
BIDI = "\u202e\u2066\u2069\u200f"
# What every reminder carries, and nothing else may arrive.
REMINDER_HEADERS = sorted(
    [
        "return-path",  # added by the catcher: the envelope sender
        "x-envelope-to",  # added by the catcher: the envelope recipients
        "subject",
        "from",
        "to",
        "date",
        "message-id",
        "x-statclock-case",
        "x-statclock-item",
        "x-statclock-reminder",
        "content-type",
        "mime-version",
    ]
)
OUR_ID = re.compile(r"<r(\d+)\.[0-9a-f]{16}@statclock>")
BARBARA = "barbara.peacock@croydon.gov.uk"  # owns Croydon's statement of action below
DEBBIE = "debbie.jones@towerhamlets.gov.uk"  # owns Tower Hamlets' second monitoring visit


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    with Relay(tmp_path / "mail") as server:
        yield server


@pytest.fixture
def demo(register_engine: Engine) -> Engine:
    """Croydon and Tower Hamlets: on Wednesday 6 December 2017 three reminders are due."""
    with transaction(register_engine) as session:
        for name in ("croydon-2017", "tower-hamlets-2017"):
            register.import_case(
                session, seed_as_it_stood(DEMO / f"{name}.yaml"), "tester", date(2017, 11, 1)
            )
    return register_engine


@contextmanager
def smtp(relay: Relay) -> Iterator[Callable[[EmailMessage], None]]:
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as client:

        def send(message: EmailMessage) -> None:
            client.send_message(message)

        yield send


def plan(engine: Engine, day: date) -> int:
    with transaction(engine) as session:
        return len(plan_reminders(session, day, load_policy(), PM))


def send(engine: Engine, relay: Relay, **kwargs: object) -> SendReport:
    with smtp(relay) as deliver:
        return send_pending(engine, deliver, SENDER, **kwargs)  # type: ignore[arg-type]


def ledger(engine: Engine) -> list[ReminderLedger]:
    with transaction(engine) as session:
        rows = session.execute(select(ReminderLedger).order_by(ReminderLedger.id)).scalars().all()
        session.expunge_all()
    return list(rows)


def corrupt(engine: Engine, change: Callable[[Session], None]) -> None:
    """Write bad data straight into the register, as an old version or a bad import could."""
    with transaction(engine) as session:
        change(session)


def case(session: Session, key: str) -> Inspection:
    return register.get_case(session, key)


def give_owner(key: str, milestone: str, contact: str, email: str) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        found = case(session, key)
        person = next(c for c in found.contacts if c.name == contact)
        person.email = email
        row = next(m for m in found.milestones if m.milestone_id == milestone)
        row.owner = contact

    return change


def names(message: EmailMessage) -> list[str]:
    return sorted(name.lower() for name in message)


# -- hostile names -------------------------------------------------------------------------


def test_hostile_names_arrive_as_plain_text_and_add_no_header(demo, relay):
    def hostile(session: Session) -> None:
        case(session, "croydon-2017").local_authority.name = ENCODED_WORD
        tower = case(session, "tower-hamlets-2017")
        # 200 characters: the column's limit, so PostgreSQL holds it too.
        tower.local_authority.name = f"Tower Hamlets\r\nBcc: attacker@example.com{BIDI}".ljust(
            200, "T"
        )
        audits = next(m for m in tower.milestones if m.milestone_id == AUDITS)
        audits.title = f"Monitoring audits\nReply-To: attacker@example.com{BIDI}"

    corrupt(demo, hostile)
    assert plan(demo, REMINDER_DAY) == 3
    report = send(demo, relay)
    assert (report.sent, report.failed) == (3, 0)

    messages = relay.messages()
    assert len(messages) == 3
    for message in messages:
        assert names(message) == REMINDER_HEADERS, message["Subject"]
        assert message["X-Envelope-To"] == PM  # no Bcc reached the envelope either
        assert message["To"] == PM and message["From"] == SENDER
        subject = str(message["Subject"])
        assert "\r" not in subject and "\n" not in subject and len(subject) <= 250
        assert not set(BIDI) & set(subject)
    # The hostile names arrive as text: in the subject, the council's capped to fit 80
    # characters (the rule's short label stands for the title there); in full in the body.
    subjects = sorted(str(m["Subject"]) for m in messages)
    assert all(len(s) < 80 for s in subjects)
    assert any(s.endswith(" – = ?utf-8?q?X=0D=0AReply…") for s in subjects)
    assert any(s.endswith(" – Tower Hamlets Bcc: atta…") for s in subjects)
    bodies = " ".join(m.get_body(("plain",)).get_content() for m in messages)
    assert "Monitoring audits Reply-To: attacker@example.com" in bodies
    assert f"{ENCODED_WORD}, case croydon-2017" in bodies  # plain text in a body, never decoded

    rows = ledger(demo)
    assert all(r.state == "sent" and r.attempts == 1 and r.failure is None for r in rows)
    arrived = sorted(str(m["Message-ID"]) for m in messages)
    assert arrived == sorted(str(r.message_id) for r in rows)
    for row in rows:
        found = OUR_ID.fullmatch(str(row.message_id))
        assert found and int(found[1]) == row.id


# -- poison rows ---------------------------------------------------------------------------


def test_a_poison_row_fails_alone_and_every_other_message_is_sent(demo, relay):
    # Croydon's owner is refused by the relay (550); Tower Hamlets' owner has an email ending
    # in a newline, which the case file schema's "$" used to accept.
    corrupt(
        demo, give_owner("croydon-2017", "written_statement_of_action", "Barbara Peacock", BARBARA)
    )
    corrupt(
        demo,
        give_owner("tower-hamlets-2017", AUDITS, "Debbie Jones", f"{DEBBIE}\n"),
    )
    relay.refuse.add(BARBARA)
    assert plan(demo, REMINDER_DAY) == 4  # the late audits escalate to the PM
    rows = ledger(demo)
    assert rows[0].recipient == BARBARA  # the first row fails: the loop must go on after it

    report = send(demo, relay)

    assert (report.sent, report.failed, report.skipped) == (2, 2, 0)
    refused, poison = report.failures
    assert (refused.case_key, refused.item, refused.kind, refused.recipient) == (
        "croydon-2017",
        "milestone:written_statement_of_action",
        "before_5",
        BARBARA,
    )
    assert refused.reason == (f"SMTPRecipientsRefused: {BARBARA}: 550 5.1.1 No such mailbox here")
    assert (poison.case_key, poison.item, poison.recipient) == (
        "tower-hamlets-2017",
        AUDITS_ITEM,
        f"{DEBBIE}\n",
    )
    assert poison.reason.startswith(
        f"MessageBuildError: To: '{DEBBIE}\\n' is not a usable email address ("
    )
    assert all(f.attempts == 1 and f.will_retry for f in report.failures)

    states = {(r.recipient, r.item): (r.state, r.attempts, r.failure) for r in ledger(demo)}
    assert states[(BARBARA, "milestone:written_statement_of_action")] == (
        "failed",
        1,
        refused.reason,
    )
    assert states[(f"{DEBBIE}\n", AUDITS_ITEM)] == (
        "failed",
        1,
        poison.reason,
    )
    sent = [r for r in ledger(demo) if r.state == "sent"]
    assert len(sent) == 2 and all(r.recipient == PM for r in sent)
    assert sorted(m["X-Envelope-To"] for m in relay.messages()) == [PM, PM]


def test_a_lost_connection_stops_the_batch_and_leaves_the_rest_as_they_were(demo, relay):
    corrupt(demo, give_owner("tower-hamlets-2017", AUDITS, "Debbie Jones", DEBBIE))
    relay.drop.add(DEBBIE)
    assert plan(demo, REMINDER_DAY) == 4
    order = [r.recipient for r in ledger(demo)]
    dropped_at = order.index(DEBBIE)
    assert dropped_at > 0

    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(demo, relay)

    rows = ledger(demo)
    assert [r.state for r in rows[:dropped_at]] == ["sent"] * dropped_at
    for row in rows[dropped_at:]:  # not failed: the server went, not the message
        assert (row.state, row.attempts, row.failure) == ("pending", 0, None)

    relay.drop.clear()  # the relay is back: the rest go, nothing twice
    report = send(demo, relay)
    assert (report.sent, report.failed) == (len(rows) - dropped_at, 0)
    assert len(relay.messages()) == len(rows)
    assert all(r.state == "sent" for r in ledger(demo))


def test_a_failed_row_is_retried_with_the_same_message_id_until_it_goes(demo, relay):
    corrupt(
        demo, give_owner("croydon-2017", "written_statement_of_action", "Barbara Peacock", BARBARA)
    )
    relay.refuse.add(BARBARA)
    plan(demo, REMINDER_DAY)
    assert send(demo, relay).failed == 1

    relay.refuse.clear()  # the mailbox exists again
    report = send(demo, relay)
    assert (report.sent, report.failed) == (1, 0)  # only the failed row was left to send
    (row,) = [r for r in ledger(demo) if r.recipient == BARBARA]
    assert (row.state, row.attempts) == ("sent", 2)
    assert row.failure and row.failure.startswith("SMTPRecipientsRefused")  # kept: what happened
    (arrived,) = [m for m in relay.messages() if m["To"] == BARBARA]
    assert arrived["Message-ID"] == row.message_id == ledger_message_id(row, "croydon-2017")


def test_a_relay_that_stores_then_fails_gives_a_duplicate_receivers_can_recognise(demo, relay):
    # The at-least-once window: the relay kept the message but said 451. The row fails and the
    # retry sends it again; both copies carry the row's one Message-ID.
    corrupt(
        demo, give_owner("croydon-2017", "written_statement_of_action", "Barbara Peacock", BARBARA)
    )
    relay.store_then_fail.add(BARBARA)
    plan(demo, REMINDER_DAY)
    first = send(demo, relay)
    assert first.failures[0].reason.startswith("SMTPDataError: 451 4.3.0")
    relay.store_then_fail.clear()
    assert send(demo, relay).sent == 1
    copies = [m for m in relay.messages() if m["To"] == BARBARA]
    assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]


def test_a_poison_row_is_given_up_after_the_last_attempt(demo, relay):
    corrupt(
        demo,
        give_owner("tower-hamlets-2017", AUDITS, "Debbie Jones", f"{DEBBIE}\n"),
    )
    plan(demo, REMINDER_DAY)
    for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
        (failure,) = send(demo, relay).failures
        assert failure.attempts == attempt
        assert failure.will_retry == (attempt < MAX_SEND_ATTEMPTS)
    assert send(demo, relay) == SendReport(sent=0, skipped=0, failures=())
    (row,) = [r for r in ledger(demo) if r.state != "sent"]
    assert (row.state, row.attempts) == ("failed", MAX_SEND_ATTEMPTS)


def test_a_failed_reminder_overtaken_by_a_newer_one_is_superseded_not_sent_late(demo, relay):
    corrupt(
        demo,
        give_owner(
            "croydon-2017", "written_statement_of_action", "Barbara Peacock", f"{BARBARA}\n"
        ),
    )
    plan(demo, REMINDER_DAY)
    send(demo, relay)
    item = "milestone:written_statement_of_action"

    def wsoa() -> list[tuple[str, str, str, int]]:
        return [
            (r.reminder_kind, r.recipient, r.state, r.attempts)
            for r in ledger(demo)
            if r.item == item
        ]

    assert wsoa() == [("before_5", f"{BARBARA}\n", "failed", 1)]
    # Tuesday: "5 working days before" is still the most relevant step: kept, and retried.
    assert plan(demo, date(2017, 12, 5)) == 0
    send(demo, relay)
    assert wsoa() == [("before_5", f"{BARBARA}\n", "failed", 2)]

    corrupt(
        demo, give_owner("croydon-2017", "written_statement_of_action", "Barbara Peacock", BARBARA)
    )
    # Friday, one working day before: the failed reminder is overtaken, never sent late; the
    # new one goes to the corrected address.
    plan(demo, date(2017, 12, 8))
    assert send(demo, relay).failed == 0
    assert wsoa() == [
        ("before_5", f"{BARBARA}\n", "superseded", 2),
        ("before_1", BARBARA, "sent", 1),
    ]
    (arrived,) = [m for m in relay.messages() if m["To"] == BARBARA]
    assert arrived["Subject"].startswith("Due in 1 working day: ")


# -- Message-IDs ---------------------------------------------------------------------------


def test_a_long_recipient_gives_a_short_message_id_that_fits_the_column(demo, relay):
    # 254 characters, the longest address there is: the old Message-ID embedded it and passed
    # the column's 300 characters, so on PostgreSQL the commit failed after every send.
    longest = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".gov.uk"
    assert len(longest) == 254
    corrupt(
        demo, give_owner("croydon-2017", "written_statement_of_action", "Barbara Peacock", longest)
    )
    plan(demo, REMINDER_DAY)
    report = send(demo, relay)
    assert (report.sent, report.failed) == (3, 0)
    (row,) = [r for r in ledger(demo) if r.recipient == longest]
    assert row.state == "sent" and row.message_id and len(row.message_id) < 50
    assert [m["Message-ID"] for m in relay.messages() if m["To"] == longest] == [row.message_id]
    assert len({r.message_id for r in ledger(demo)}) == 3


# -- the send task: notice to the programme manager, heartbeat, a red run -----------------


def test_the_programme_manager_is_told_once_and_the_run_fails_after_sending_the_rest(demo, relay):
    corrupt(
        demo,
        give_owner("tower-hamlets-2017", AUDITS, "Debbie Jones", f"{DEBBIE}\n"),
    )
    plan(demo, REMINDER_DAY)
    (poison,) = [r for r in ledger(demo) if r.recipient.endswith("\n")]

    def run() -> str:
        with smtp(relay) as deliver, pytest.raises(DeliveryFailed) as failed:
            run_sends(demo, deliver, SENDER, PM, "reminders DAG", heartbeat_for=REMINDER_DAY)
        return str(failed.value)

    first = run()
    assert "\n" not in first
    assert first.startswith(
        f"1 email of 4 could not be sent and is marked failed: ledger row {poison.id} "
        "(tower-hamlets-2017 milestone:monitoring_audits_due_2 (overdue_5) to "
        f"{DEBBIE}): MessageBuildError: To: '{DEBBIE}\\n' is not a usable email address"
    )
    assert first.endswith(f"the programme manager ({PM}) has been told")
    assert reminders_completed(demo, REMINDER_DAY)  # the sends completed: the watchdog stays quiet

    notices = [m for m in relay.messages() if "could not be sent" in m["Subject"]]
    assert len(notices) == 1
    (notice,) = notices
    assert notice["Subject"] == "statclock: 1 email could not be sent" and notice["To"] == PM
    text = notice.get_content()
    assert f"Ledger row {poison.id}." in text and "Tried 1 time;" in text
    assert f"MessageBuildError: To: '{DEBBIE}\\n'" in text
    assert len([m for m in relay.messages() if m["To"] == PM]) == 4  # 3 reminders + notice

    # A retry (or the next day's run) tries the row again and fails again: no second notice.
    second = run()
    assert second.startswith("1 email of 1 could not be sent")
    assert second.endswith("the programme manager was told on an earlier run")
    assert len(relay.messages()) == 4
    with transaction(demo) as session:
        reported = session.execute(
            select(AuditEvent.entity, AuditEvent.new).where(AuditEvent.action == FAILURE_REPORTED)
        ).all()
    assert [entity for entity, _ in reported] == [f"ledger row {poison.id}"]
    assert next(r for r in ledger(demo) if r.id == poison.id).attempts == 2


def test_failures_the_programme_manager_could_not_be_told_are_told_by_the_next_run(demo, relay):
    corrupt(
        demo,
        give_owner("tower-hamlets-2017", AUDITS, "Debbie Jones", f"{DEBBIE}\n"),
    )
    plan(demo, REMINDER_DAY)

    def run(manager: str) -> str:
        with smtp(relay) as deliver, pytest.raises(DeliveryFailed) as failed:
            run_sends(demo, deliver, SENDER, manager, "reminders DAG")
        return str(failed.value)

    def reported() -> list[str]:
        with transaction(demo) as session:
            return list(
                session.execute(
                    select(AuditEvent.entity).where(AuditEvent.action == FAILURE_REPORTED)
                ).scalars()
            )

    assert run("pm@council.example\n").endswith(
        "the programme manager could not be told (MessageBuildError: To: "
        "'pm@council.example\\n' is not a usable email address (The part after the @-sign "
        "contains invalid characters: U+000A.))"
    )
    assert reported() == []
    assert not [m for m in relay.messages() if "could not be sent" in m["Subject"]]

    assert run(PM).endswith(f"the programme manager ({PM}) has been told")
    assert len(reported()) == 1
    assert len([m for m in relay.messages() if "could not be sent" in m["Subject"]]) == 1


def test_a_run_with_nothing_failed_returns_its_report(demo, relay):
    plan(demo, REMINDER_DAY)
    with smtp(relay) as deliver:
        report = run_sends(demo, deliver, SENDER, PM, "reminders DAG", heartbeat_for=REMINDER_DAY)
    assert (report.sent, report.failed) == (3, 0)
    assert reminders_completed(demo, REMINDER_DAY)


def test_an_unusable_configured_sender_stops_before_any_row(demo, relay):
    plan(demo, REMINDER_DAY)
    with smtp(relay) as deliver, pytest.raises(ValueError, match=r"^From: 'statclock@x\\n'"):
        send_pending(demo, deliver, "statclock@x\n")
    assert {r.state for r in ledger(demo)} == {"pending"}


# -- board packs ---------------------------------------------------------------------------


def test_a_pack_email_from_hostile_data_is_safe_and_a_bad_member_address_fails_alone(
    demo, relay, tmp_path
):
    html, pdf = tmp_path / "pack.html", tmp_path / "pack.pdf"
    html.write_text("<!doctype html><p>Pack</p>", encoding="utf-8")
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    members = ["chair@croydon.gov.uk", "member@croydon.gov.uk\n", f"{ENCODED_WORD}@croydon.gov.uk"]
    with transaction(demo) as session:
        croydon = case(session, "croydon-2017")
        croydon.local_authority.name = ENCODED_WORD
        assert croydon.board is not None
        croydon.board.name = f"Board\r\nBcc: attacker@example.com{BIDI}"
        croydon.board.distribution = members
        pack = BoardPack(
            inspection_id=croydon.id,
            period_label="Nov 2017\r\nBcc: x@example.com",
            period_start=date(2017, 11, 1),
            period_end=date(2017, 11, 30),
            meeting_date=date(2017, 12, 14),
            version=1,
            pdf_path=str(pdf),
            html_path=str(html),
            snapshot_path=str(tmp_path / "snapshot.json"),
            sha256="0" * 64,
            created_at=datetime.now(UTC),
        )
        session.add(pack)
        session.flush()
        queue_pack(session, pack, members, REMINDER_DAY)
    plan(demo, REMINDER_DAY)  # reminders are pending too, but a pack run sends only packs
    # Without the board-pack package's composer the ledger cannot build a pack email: the
    # pack rows wait, untouched, for a run that has it.
    assert send(demo, relay, item_prefix=PACK_PREFIX) == SendReport(sent=0, skipped=0)
    assert {r.state for r in ledger(demo) if r.item.startswith(PACK_PREFIX)} == {"pending"}

    report = send(demo, relay, item_prefix=PACK_PREFIX, compose_pack=compose_pack_email)

    assert (report.sent, report.failed) == (1, 2)
    assert {f.recipient for f in report.failures} == set(members[1:])
    (arrived,) = relay.messages()
    pack_headers = [h for h in REMINDER_HEADERS if h != "x-statclock-reminder"]
    assert names(arrived) == pack_headers
    assert arrived["X-Envelope-To"] == "chair@croydon.gov.uk"
    subject = str(arrived["Subject"])
    assert subject.startswith("Board Bcc: attacker@example.com pack: = ?utf-8?q?X=0D=0A")
    assert "meeting on Thursday 14 December 2017" in subject
    (attachment,) = arrived.iter_attachments()
    assert attachment.get_filename() == "croydon-2017-nov-2017--bcc--x-example-com-v1.pdf"
    assert OUR_ID.fullmatch(str(arrived["Message-ID"]))
    assert {r.state for r in ledger(demo) if not r.item.startswith(PACK_PREFIX)} == {"pending"}


# -- two decide steps at once --------------------------------------------------------------


def test_two_decide_steps_at_once_decide_each_reminder_once(demo):
    # The first decide step has written its rows but not committed when the second starts: the
    # second must wait for it, then find everything decided (before the writer lock, it read
    # an empty ledger, inserted the same rows and died on the unique key).
    first_decided, second_started = threading.Event(), threading.Event()
    decided: dict[str, int] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction(demo) as session:
                decided["first"] = len(plan_reminders(session, REMINDER_DAY, load_policy(), PM))
                first_decided.set()
                second_started.wait(timeout=30)
                time.sleep(0.5)  # let the second reach its read, or the lock, before commit
        except BaseException as error:  # reported below
            errors.append(error)
            first_decided.set()

    def second() -> None:
        try:
            first_decided.wait(timeout=30)
            second_started.set()
            with transaction(demo) as session:
                decided["second"] = len(plan_reminders(session, REMINDER_DAY, load_policy(), PM))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert decided == {"first": 3, "second": 0}
    keys = [(r.inspection_id, r.item, r.reminder_kind, r.recipient) for r in ledger(demo)]
    assert len(keys) == len(set(keys)) == 3
