"""The reminder ledger: deciding and sending each reminder exactly once.

Two steps, each idempotent:

1. :func:`plan_reminders` decides, in one transaction, which reminders are due on ``as_of`` and
   writes one ``pending`` ledger row per (case, item, kind, due-date version, recipient). The
   unique key makes a second decision for the same thing impossible, whichever run or retry
   makes it. Pending rows superseded by a more relevant reminder are marked ``superseded``.
2. :func:`send_pending` sends each pending row in its own transaction: lock the row, build the
   email, send it, mark it ``sent``, commit. If the SMTP server is down or the connection is
   lost, the send raises, the row stays as it was and the batch stops (the task fails and
   Airflow retries); nothing is lost and nothing sent twice.

Daily digest: a contact who chose it (``contact.reminders`` is ``daily digest``) still has one
ledger row per reminder (the exactly-once key is unchanged); at send time that recipient's
reminder rows decided on the same day are sent as one email, in one transaction that locks them
all and marks them sent with the one Message-ID (:func:`digest_message_id`). Board packs are
never digested.

Poison rows: a message that cannot be built safely from the register's data (a name with a
line break, an address ending in a newline; see :mod:`statutory_clock.mail_headers`) or that
the relay refuses (``550`` for one recipient) is marked ``failed`` on its own row, with the
reason and ``attempts + 1``, committed in that row's transaction, and the batch goes on: one
council's bad data never stops another council's reminders. Failed rows are tried again by
the next send (a task retry or the next day's run) until :data:`MAX_SEND_ATTEMPTS`; the decide
step supersedes a failed row that is no longer the most relevant reminder, as it does a
pending one, so it is never sent late. :mod:`statutory_clock.store.delivery` turns the failures
into a notice to the programme manager and a failed task.

The one window left, between the relay accepting a message (``250`` after DATA) and the
commit, cannot be closed with SMTP: a crash there sends the message again on the retry. Each
row's Message-ID is short and the same on every try (:func:`ledger_message_id`), so a
receiving system can de-duplicate (see ``docs/mail-delivery.md`` for the window's measured
size).
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Final, Literal

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from statutory_clock import addresses
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.mail_headers import header_text, message_id, sender_address
from statutory_clock.reminders import (
    CHANGED,
    Reminder,
    ReminderItem,
    ReminderPolicy,
    compose,
    compose_digest,
    decide_all,
    still_relevant,
    working_days_to,
)
from statutory_clock.rules import bundled_rulebooks
from statutory_clock.store.audit import lock_for_writing
from statutory_clock.store.channels import email_rows, is_email_recipient
from statutory_clock.store.db import transaction
from statutory_clock.store.models import BoardPack, Contact, Inspection, ReminderLedger
from statutory_clock.store.read_model import FINISHED, timeline
from statutory_clock.store.reading import calendar_for
from statutory_clock.vocabulary import DAILY_DIGEST

log = logging.getLogger(__name__)

SENT: Final = "sent"
SKIPPED: Final = "skipped"

REMINDER_ITEMS = ("milestone:", "action:")
PACK_PREFIX = "board_pack:"
# Rows a send picks up, and that the decide step may supersede.
UNSENT = ("pending", "failed")
# A failed row is tried this many times in all, then left failed. With the DAGs' 3 task
# retries a poison row is tried 4 times on the day it fails, so 10 spans that day and the next
# two runs: time for someone to correct the data (the programme manager is told at the first
# failure) without chasing a message that can never go forever.
MAX_SEND_ATTEMPTS = 10
# Characters of a failure reason kept on the ledger row and in notices.
MAX_REASON = 300

# Builds a pack's email: (pack, its case, recipient, sender, sent at, Message-ID) -> message.
# The board-pack package provides it (assemble.compose_pack_email); the ledger only sends it.
PackComposer = Callable[[BoardPack, Inspection, str, str, datetime, str], EmailMessage]


@dataclass(frozen=True)
class SendFailure:
    """One ledger row whose message could not be built or was refused by the relay."""

    row_id: int
    case_key: str
    item: str
    kind: str
    recipient: str
    reason: str  # one line: the exception's class and message
    attempts: int  # including this one
    will_retry: bool  # False once MAX_SEND_ATTEMPTS is reached: the row stays failed


@dataclass(frozen=True)
class SendReport:
    sent: int
    skipped: int  # already sent or superseded by another worker meanwhile
    failures: tuple[SendFailure, ...] = ()
    digests: int = 0  # daily digest emails among those sent (each carries several rows)

    @property
    def failed(self) -> int:
        return len(self.failures)


def describe(error: BaseException) -> str:
    """An exception as one line of at most :data:`MAX_REASON` characters: class and message,
    with an SMTP reply shown as its code and text rather than a bytes repr."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(
            f"{rcpt}: {code} {_reply(text)}" for rcpt, (code, text) in error.recipients.items()
        )
    elif isinstance(error, smtplib.SMTPResponseException):
        detail = f"{error.smtp_code} {_reply(error.smtp_error)}"
    else:
        detail = str(error)
    return header_text(f"{type(error).__name__}: {detail}", MAX_REASON)


def _reply(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def refused_by_relay(error: BaseException) -> bool:
    """True if the relay refused this one message and the connection is still usable.

    Per message: a recipient, sender or message refused with a reply code (``550 no such
    mailbox``, ``552 too big``, ``451`` after DATA), or a message smtplib itself cannot send
    (it needs SMTPUTF8). The server gone instead: the connection dropped or refused, a timeout,
    or ``421`` (the server is closing the connection, which smtplib then closes too); so is any
    other ``OSError`` and any SMTP error this does not recognise, so that the batch stops and
    its rows stay as they were, to be tried again when the server is back.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code != 421 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return True
    if isinstance(
        error, smtplib.SMTPConnectError | smtplib.SMTPHeloError | smtplib.SMTPAuthenticationError
    ):
        return False
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code != 421
    return False


def _emails(contacts: Sequence[Contact]) -> tuple[dict[str, str], dict[str, str]]:
    email = {c.name: c.email for c in contacts if c.email}
    escalation = {c.name: c.escalation_contact for c in contacts if c.escalation_contact}
    return email, {name: email[to] for name, to in escalation.items() if to in email}


def short_labels() -> dict[str, str]:
    """Each rule's ``short_label`` (for subject lines), by the rule reference a milestone
    carries ("ilacs.written_statement_of_action"); rules without one are left out. From the
    rulebooks as shipped (cached once per process): an operator's overlay changes timescales
    and citations, not what a deadline is called."""
    return {
        rule.ref: rule.short_label
        for book in bundled_rulebooks().values()
        for rule in book.rules
        if rule.short_label
    }


def case_items(case: Inspection, as_of: date, calendar: WorkingDayCalendar) -> list[ReminderItem]:
    """Every milestone and dated action plan item of a case, as reminder items.

    What is done comes from the read model's statuses on ``as_of``: met, missed, waived, or
    the case closed; and an Ofsted or DfE act past its date ("not recorded") is done as far as
    reminders go, so it is never chased as the council's overdue item nor escalated. Before
    its date the owner is still told it is coming.
    """
    email, escalation = _emails(case.contacts)
    # The escalation contact's name beside the address, for the email's "Escalation contact".
    escalation_name = {
        c.name: c.escalation_contact for c in case.contacts if c.escalation_contact in email
    }
    labels = short_labels()
    authority = case.local_authority.name
    statuses = {e.id: e.status for e in timeline(case, as_of, calendar)}
    items = []
    for m in case.milestones:
        items.append(
            ReminderItem(
                item=f"milestone:{m.milestone_id}",
                case_key=case.key,
                authority=authority,
                title=m.title,
                due=m.effective_due,
                due_version=m.due_version,
                needed=m.title,
                basis=m.basis,
                source=m.source,
                rule=m.rule,
                confidence=m.confidence,
                owner=m.owner,
                owner_email=email.get(m.owner or ""),
                escalation_email=escalation.get(m.owner or ""),
                done=statuses[m.milestone_id] in FINISHED | {"not_recorded"},
                act_by=calendar.working_day_on_or_before(m.effective_due),
                label=labels.get(m.rule),
                escalation=escalation_name.get(m.owner or ""),
            )
        )
    for a in case.actions:
        if a.target_date is None:
            continue
        outcome = (a.required_outcome or a.key_tasks or "see the action plan").strip()
        rec = f" (recommendation {a.recommendation})" if a.recommendation else ""
        items.append(
            ReminderItem(
                item=f"action:{a.position}",
                case_key=case.key,
                authority=authority,
                title=f"Action {a.position}{rec}",
                due=a.target_date,
                # Action target dates have no counter: the date itself is the version, so a moved
                # target is a new version with fresh reminders.
                due_version=a.target_date.toordinal(),
                needed=outcome.splitlines()[0][:300],
                basis=None,
                source=None,
                rule=None,
                confidence=None,
                owner=a.lead_officer,
                owner_email=email.get(a.lead_officer or ""),
                escalation_email=escalation.get(a.lead_officer or ""),
                done=a.status == "complete" or not case.open,
                act_by=calendar.working_day_on_or_before(a.target_date),
                escalation=escalation_name.get(a.lead_officer or ""),
            )
        )
    return items


def open_cases(session: Session, keys: Sequence[str] | None = None) -> Sequence[Inspection]:
    """Open cases with everything a reminder item needs loaded (authority, contacts,
    milestones, actions), by key."""
    query = (
        select(Inspection)
        .options(
            selectinload(Inspection.local_authority),
            selectinload(Inspection.contacts),
            selectinload(Inspection.milestones),
            selectinload(Inspection.actions),
        )
        .where(Inspection.open.is_(True))
        .order_by(Inspection.key)
    )
    if keys is not None:
        query = query.where(Inspection.key.in_(list(keys)))
    return session.execute(query).scalars().all()


def plan_reminders(
    session: Session,
    as_of: date,
    policy: ReminderPolicy,
    programme_manager: str,
    calendar: WorkingDayCalendar | None = None,
) -> list[ReminderLedger]:
    """Decide today's reminders and record each as a pending ledger row (caller's transaction).

    Two decide steps at once (a manual re-run beside the scheduled one) are serialised: on
    PostgreSQL by the register's writer lock taken first (SQLite's ``BEGIN IMMEDIATE`` already
    does it), so the second waits, then reads the first one's rows and decides nothing new,
    instead of failing on the ledger's unique key.
    """
    lock_for_writing(session)
    calendar = calendar or calendar_for(session)
    cases = open_cases(session)
    case_ids = {c.key: c.id for c in cases}
    rows = (
        session.execute(select(ReminderLedger).where(ReminderLedger.state != "superseded"))
        .scalars()
        .all()
    )
    by_case_id = {v: k for k, v in case_ids.items()}
    ledger: dict[tuple[str, str], set[tuple[str, int]]] = {}
    last_told: dict[tuple[str, str], tuple[int, date]] = {}
    pending: dict[tuple[str, str], list[ReminderLedger]] = {}
    for row in rows:
        if not row.item.startswith(REMINDER_ITEMS):
            continue  # board packs share the ledger but are not reminders
        if not is_email_recipient(row.recipient):
            continue  # a chat post is not an email sent (store/notices.py plans those)
        key = (by_case_id.get(row.inspection_id, ""), row.item)
        ledger.setdefault(key, set()).add((row.reminder_kind, row.due_version))
        if row.state in UNSENT:  # a failed row is retried only while it is still relevant
            pending.setdefault(key, []).append(row)
        elif row.reminder_kind != CHANGED and (
            key not in last_told or row.due_version > last_told[key][0]
        ):
            last_told[key] = (row.due_version, row.due)
    items = [item for case in cases for item in case_items(case, as_of, calendar)]
    previous_due = {key: told_due for key, (version, told_due) in last_told.items()}
    decisions = decide_all(items, as_of, policy, calendar, ledger, previous_due, programme_manager)
    # A reminder decided on an earlier day but never sent (the mail server was down, or it
    # failed) is sent now if it is still the most relevant one; otherwise a newer one replaces
    # it and it is superseded, never sent late.
    by_key = {(item.case_key, item.item): item for item in items}
    for key, stale in pending.items():
        supersede_unless_relevant(by_key.get(key), stale, as_of, policy, calendar)
    created = []
    for reminder in decisions:
        for recipient in reminder.recipients:
            row = ReminderLedger(
                inspection_id=case_ids[reminder.item.case_key],
                item=reminder.item.item,
                reminder_kind=reminder.kind,
                due_version=reminder.item.due_version,
                due=reminder.item.due,
                recipient=recipient,
                state="pending",
                decided_on=as_of,
            )
            session.add(row)
            created.append(row)
    session.flush()
    return created


def supersede_unless_relevant(
    item: ReminderItem | None,
    rows: Sequence[ReminderLedger],
    as_of: date,
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar,
) -> None:
    """Unsent ledger rows of one item (email or chat): each is kept only while it is still
    the most relevant reminder on ``as_of`` (or its change notice), else superseded, so a
    reminder is never sent late. ``item`` None: the item went, and so do its rows."""
    keep = still_relevant(item, as_of, policy, calendar) if item else set()
    for row in rows:
        if (row.reminder_kind, row.due_version) not in keep:
            row.state = "superseded"


def send_pending(
    engine: Engine,
    send: Callable[[EmailMessage], None],
    sender: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    item_prefix: str | None = None,
    compose_pack: PackComposer | None = None,
    base_url: str | None = None,
) -> SendReport:
    """Send every pending ledger row, and every failed one with attempts left (those whose item
    starts with ``item_prefix``, if given), each in its own transaction (see the module
    docstring). A row that fails is recorded and reported; a connection failure raises.

    Board-pack rows are sent only with ``compose_pack`` (the board-pack package's composer,
    :func:`statutory_clock.board_pack.assemble.compose_pack_email`): the ledger does not know
    how a pack becomes an email. Without it they are left pending for a run that has it.

    ``base_url`` is where people reach statclock, for each email's link to its council's page:
    ``$STATCLOCK_BASE_URL`` (:func:`statutory_clock.addresses.base_url`) unless given.
    """
    sender = sender_address(sender)  # a bad configured sender stops the batch before any row
    # Like the sender: a bad setting stops the batch before any row, with one line naming it.
    link_base = base_url or addresses.base_url()
    query = select(ReminderLedger.id).where(
        or_(
            ReminderLedger.state == "pending",
            (ReminderLedger.state == "failed") & (ReminderLedger.attempts < MAX_SEND_ATTEMPTS),
        )
    )
    query = query.where(email_rows())  # chat channels' rows are posted by store/notices.py
    if item_prefix is not None:
        query = query.where(ReminderLedger.item.startswith(item_prefix))
    if compose_pack is None:
        query = query.where(~ReminderLedger.item.startswith(PACK_PREFIX))
    with transaction(engine) as session:
        ids = session.execute(query.order_by(ReminderLedger.id)).scalars().all()
        units = _units(session, ids)
    sent = skipped = digests = 0
    failures: list[SendFailure] = []
    for unit in units:
        if len(unit) > 1:
            done = _send_digest(engine, unit, send, sender, now, link_base, failures)
            sent, skipped = sent + done.sent, skipped + done.skipped
            digests += done.digest
            continue
        (row_id,) = unit
        outcome = _send_row(engine, row_id, send, sender, now, compose_pack, link_base)
        if outcome == SKIPPED:
            skipped += 1
        elif outcome == SENT:
            sent += 1
        elif isinstance(outcome, SendFailure):
            failures.append(outcome)
    return SendReport(sent=sent, skipped=skipped, failures=tuple(failures), digests=digests)


def _send_row(
    engine: Engine,
    row_id: int,
    send: Callable[[EmailMessage], None],
    sender: str,
    now: Callable[[], datetime],
    compose_pack: PackComposer | None,
    link_base: str | None,
) -> Literal["sent", "skipped"] | SendFailure:
    """One row in its own transaction: sent, skipped, or its failure. If the register goes
    away once the relay has taken the message, the row is recorded as sent when it is back
    (:func:`record_accepted`)."""
    accepted: _Accepted | None = None
    try:
        with transaction(engine) as session:
            row = session.execute(
                select(ReminderLedger)
                .where(ReminderLedger.id == row_id)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if row is None or not sendable(row):
                return SKIPPED  # another worker has it, or it was sent meanwhile
            try:
                message = _message_for(session, row, sender, now(), compose_pack, link_base)
            except SQLAlchemyError:
                raise  # the register itself is in trouble: not this row's fault
            except Exception as error:
                # Whatever stops this one message being built (MessageBuildError, the email
                # package refusing a header, a pack's archived file gone, even a bug met only
                # by this row's data) must not stop every other council's: it is recorded on
                # the row, reported to the programme manager and fails the task, so it is seen.
                return mark_failed(session, row, error)
            if message is None:  # the item moved or went since the decision: a new one follows
                row.state = "superseded"
                return SKIPPED
            try:
                send(message)
            except (smtplib.SMTPException, OSError, ValueError) as error:
                if not isinstance(error, ValueError) and not refused_by_relay(error):
                    raise  # the server is gone: this row and the rest stay as they were
                return mark_failed(session, row, error)
            accepted = _Accepted((row.id,), str(message["Message-ID"]), now())
            _mark_sent(row, accepted)
    except SQLAlchemyError:
        if accepted is None:
            raise
        record_accepted(engine, accepted)  # the relay has it; the commit recording it was lost
    return SENT


@dataclass(frozen=True)
class _Accepted:
    """Rows whose message the relay has accepted (``250``), with its Message-ID and time."""

    row_ids: tuple[int, ...]
    message_id: str
    sent_at: datetime


# How long a send waits for the register to come back when it cannot record a message the relay
# has already accepted. Giving up (and leaving the task's retry to send the message again) would
# duplicate it: a database restart or fail-over mid-send is minutes, so wait that long.
RECORD_PATIENCE_SECONDS = 600.0


def _mark_sent(row: ReminderLedger, accepted: _Accepted) -> None:
    row.state, row.sent_at = "sent", accepted.sent_at
    row.message_id = accepted.message_id
    row.attempts = (row.attempts or 0) + 1


def record_accepted(
    engine: Engine,
    accepted: _Accepted,
    patience: float = RECORD_PATIENCE_SECONDS,
    wait: Callable[[float], None] = time.sleep,
) -> None:
    """Mark rows sent whose message the relay accepted after their own commit failed (the
    register went away mid-send), trying again until it is back or ``patience`` runs out (then
    the error propagates: the retry sends those rows again, the one duplicate left)."""
    delay, waited = 1.0, 0.0
    while True:
        try:
            with transaction(engine) as session:
                rows = session.execute(
                    select(ReminderLedger).where(ReminderLedger.id.in_(list(accepted.row_ids)))
                ).scalars()
                for row in rows:
                    if sendable(row):
                        _mark_sent(row, accepted)
            log.warning(
                "The register was unreachable when ledger row(s) %s were sent; recorded as sent "
                "after %.0f s",
                ", ".join(map(str, accepted.row_ids)),
                waited,
            )
            return
        except SQLAlchemyError:
            if waited >= patience:
                raise
            wait(delay)
            waited += delay
            delay = min(delay * 2, 30.0)


# -- the daily digest ------------------------------------------------------------------------


def _units(session: Session, ids: Sequence[int]) -> list[tuple[int, ...]]:
    """The rows to send, as units of work in ledger order: one row each, except that the
    reminder rows of a contact who chose a daily digest, decided on the same day, are one unit
    (one email). Only email recipients of reminders: board packs and any other channel sharing
    the ledger are never digested."""
    groups: dict[tuple[str, date], list[int]] = {}
    if ids:
        chosen = session.execute(
            select(ReminderLedger.id, ReminderLedger.recipient, ReminderLedger.decided_on)
            .join(
                Contact,
                (Contact.inspection_id == ReminderLedger.inspection_id)
                & (Contact.email == ReminderLedger.recipient),
            )
            .where(
                ReminderLedger.id.in_(list(ids)),
                Contact.reminders == DAILY_DIGEST,
                or_(*(ReminderLedger.item.startswith(p) for p in REMINDER_ITEMS)),
                ReminderLedger.recipient.contains("@"),
            )
        ).all()
        for row_id, recipient, decided_on in chosen:
            group = groups.setdefault((recipient, decided_on), [])
            if row_id not in group:  # two contacts of a case may share an address
                group.append(row_id)
    unit_of = {row_id: tuple(sorted(g)) for g in groups.values() for row_id in g}
    units: dict[tuple[int, ...], None] = {}
    for row_id in ids:
        units.setdefault(unit_of.get(row_id, (row_id,)), None)
    return list(units)


@dataclass(frozen=True)
class _Tally:
    sent: int
    skipped: int
    digest: bool = False  # sent as a digest (two or more rows in one email)


def digest_message_id(rows: Sequence[ReminderLedger]) -> str:
    """A digest's Message-ID: from its rows' ids, so the same rows give the same ID on a retry
    (a receiving system can de-duplicate a resend, as for a single reminder)."""
    ids = sorted(row.id for row in rows)
    return message_id(ids[0], *ids, rows[0].recipient, prefix="d")


def _send_digest(
    engine: Engine,
    unit: Sequence[int],
    send: Callable[[EmailMessage], None],
    sender: str,
    now: Callable[[], datetime],
    base_url: str | None,
    failures: list[SendFailure],
) -> _Tally:
    """One email for the rows of ``unit`` (one recipient, one day), in one transaction: every
    row locked, each reminder built on its own (a row that cannot be built is marked failed
    and the rest still go), then sent once and every row in it marked sent with the one
    Message-ID. A refusal by the relay marks each row failed; a lost connection raises and
    leaves them all as they were. If the register goes away once the relay has taken the
    email, its rows are recorded as sent when it is back (:func:`record_accepted`)."""
    accepted: _Accepted | None = None
    try:
        with transaction(engine) as session:
            rows = [
                row
                for row in session.execute(
                    select(ReminderLedger)
                    .where(ReminderLedger.id.in_(list(unit)))
                    .order_by(ReminderLedger.id)
                    .with_for_update(skip_locked=True)
                ).scalars()
                if sendable(row)
            ]
            skipped = len(unit) - len(rows)  # another worker has them, or they went meanwhile
            at = now()
            built: list[tuple[ReminderLedger, Reminder, str]] = []
            for row in rows:
                try:
                    found = reminder_for(session, row)
                    if found is not None:
                        reminder, case_key = found
                        # Built alone first, as its own email would be: whatever in this row's
                        # data cannot be sent safely fails this row only.
                        compose(
                            reminder, row.recipient, sender, at, ledger_message_id(row, case_key)
                        )
                except SQLAlchemyError:
                    raise
                except Exception as error:
                    failures.append(mark_failed(session, row, error))
                    continue
                if found is None:
                    row.state = "superseded"
                    skipped += 1
                    continue
                built.append((row, *found))
            if not built:
                return _Tally(0, skipped)
            try:
                if len(built) == 1:
                    row, reminder, case_key = built[0]
                    message = compose(
                        reminder,
                        row.recipient,
                        sender,
                        at,
                        ledger_message_id(row, case_key),
                        base_url,
                    )
                else:
                    message = compose_digest(
                        [reminder for _, reminder, _ in built],
                        built[0][0].recipient,
                        sender,
                        at,
                        built[0][0].decided_on,
                        digest_message_id([row for row, _, _ in built]),
                        base_url,
                    )
                send(message)
                accepted = _Accepted(
                    tuple(r.id for r, _, _ in built), str(message["Message-ID"]), now()
                )
            except SQLAlchemyError:
                raise
            except (smtplib.SMTPException, OSError) as error:
                if not refused_by_relay(error):
                    raise  # the server is gone: every row stays as it was
                failures.extend(mark_failed(session, row, error) for row, _, _ in built)
                return _Tally(0, skipped)
            except Exception as error:
                failures.extend(mark_failed(session, row, error) for row, _, _ in built)
                return _Tally(0, skipped)
            for row, _, _ in built:
                _mark_sent(row, accepted)
    except SQLAlchemyError:
        if accepted is None:
            raise
        # The relay has the email and the register lost the commit recording it.
        record_accepted(engine, accepted)
    return _Tally(len(built), skipped, digest=len(built) > 1)


def sendable(row: ReminderLedger) -> bool:
    """Pending, or failed with attempts left (email and chat rows alike)."""
    if row.state == "pending":
        return True
    return row.state == "failed" and (row.attempts or 0) < MAX_SEND_ATTEMPTS


def mark_failed(session: Session, row: ReminderLedger, error: BaseException) -> SendFailure:
    """Mark ``row`` failed with the reason; committed with the row's transaction."""
    row.state, row.failure = "failed", describe(error)
    row.attempts = (row.attempts or 0) + 1
    key = session.execute(
        select(Inspection.key).where(Inspection.id == row.inspection_id)
    ).scalar_one()
    return SendFailure(
        row_id=row.id,
        case_key=key,
        item=row.item,
        kind=row.reminder_kind,
        recipient=row.recipient,
        reason=row.failure,
        attempts=row.attempts,
        will_retry=row.attempts < MAX_SEND_ATTEMPTS,
    )


def ledger_message_id(row: ReminderLedger, case_key: str) -> str:
    """The row's Message-ID: short, and the same on every try (see mail_headers.message_id)."""
    return message_id(row.id, case_key, row.item, row.reminder_kind, row.due_version, row.recipient)


def queue_pack(
    session: Session, pack: BoardPack, recipients: Sequence[str], decided_on: date
) -> list[ReminderLedger]:
    """Pending ledger rows to send an archived pack to each recipient, exactly once."""
    rows = []
    for recipient in dict.fromkeys(recipients):
        row = ReminderLedger(
            inspection_id=pack.inspection_id,
            item=f"{PACK_PREFIX}{pack.period_label}",
            reminder_kind="board_pack",
            due_version=pack.version,
            due=pack.meeting_date or pack.period_end,
            recipient=recipient,
            state="pending",
            decided_on=decided_on,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def _pack_message(
    session: Session, row: ReminderLedger, sender: str, at: datetime, compose_pack: PackComposer
) -> EmailMessage | None:
    pack = session.execute(
        select(BoardPack).where(
            BoardPack.inspection_id == row.inspection_id,
            BoardPack.period_label == row.item.removeprefix(PACK_PREFIX),
            BoardPack.version == row.due_version,
        )
    ).scalar_one_or_none()
    if pack is None:
        return None
    case = session.execute(
        select(Inspection)
        .where(Inspection.id == row.inspection_id)
        .options(selectinload(Inspection.local_authority), selectinload(Inspection.board))
    ).scalar_one()
    if not case.open:  # closed since the pack was made: a closed case gets no packs
        return None
    return compose_pack(pack, case, row.recipient, sender, at, ledger_message_id(row, case.key))


def _message_for(
    session: Session,
    row: ReminderLedger,
    sender: str,
    at: datetime,
    compose_pack: PackComposer | None,
    base_url: str | None = None,
) -> EmailMessage | None:
    if row.item.startswith(PACK_PREFIX):
        if compose_pack is None:  # not selected without one (see send_pending)
            raise RuntimeError("a board-pack row needs the pack composer")
        return _pack_message(session, row, sender, at, compose_pack)
    found = reminder_for(session, row)
    if found is None:
        return None
    reminder, case_key = found
    return compose(reminder, row.recipient, sender, at, ledger_message_id(row, case_key), base_url)


def reminder_for(session: Session, row: ReminderLedger) -> tuple[Reminder, str] | None:
    """The reminder a ledger row stands for (an email's or a chat notice's), as of the day it
    was decided, and its case's key; None if the case closed or the item moved, went or was
    done since the decision (the row is then superseded: a new decision follows)."""
    case = session.execute(
        select(Inspection)
        .where(Inspection.id == row.inspection_id)
        .options(
            selectinload(Inspection.local_authority),
            selectinload(Inspection.contacts),
            selectinload(Inspection.milestones),
            selectinload(Inspection.actions),
        )
    ).scalar_one()
    if not case.open:  # closed since the decision: a closed case is never chased
        return None
    calendar = calendar_for(session)
    # Done as of the day it was decided (deterministic, whenever the send runs).
    items = case_items(case, row.decided_on, calendar)
    item = next((i for i in items if i.item == row.item), None)
    if item is None or item.due_version != row.due_version or item.done:
        return None
    previous = None
    if row.reminder_kind == CHANGED:
        previous = (
            session.execute(
                select(ReminderLedger.due)
                .where(
                    ReminderLedger.inspection_id == row.inspection_id,
                    ReminderLedger.item == row.item,
                    ReminderLedger.state == "sent",
                    ReminderLedger.due_version != row.due_version,
                    ReminderLedger.reminder_kind != CHANGED,
                )
                .order_by(ReminderLedger.due_version.desc())
            )
            .scalars()
            .first()
        )
    reminder = Reminder(
        item,
        row.reminder_kind,
        (row.recipient,),
        working_days_to(row.due, row.decided_on, calendar),
        previous,
    )
    return reminder, case.key
