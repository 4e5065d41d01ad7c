"""The backstop: did today's reminders go out? And, after an alarm, the all-clear.

The reminders DAG leaves its marks in the register's audit trail, one entity per day
(``reminders 2017-12-04``):

- ``reminders run started``: the decide step began (once per day, however many tries);
- ``reminders run completed`` (the heartbeat): every pending row was tried;
- ``reminders run failed``: a task of the run failed for good (its retries used up).

:func:`reminders_state` reads them as one :class:`RemindersState`, which the watchdog DAG turns
into a :class:`Verdict`. It alerts only when the day's reminders have truly not gone out: the
run failed for good, or no run started within the watchdog's patience, or a run that did start
is still unfinished at the watchdog's limit (longer than the reminders' whole retry window). A
run still inside its retries is waited for, not reported: an alarm that the next retry makes
false teaches people to ignore alarms.

A day is watched only once reminders have run on an earlier day in this register: on the
first start of a new installation the scheduler may ask about a day before the product
existed (the latest slot before now), and nothing was ever due to go out then. If reminders
have already run for a later day the answer is immediate; if none has run yet, the watchdog
gives a first run its patience to start, and watches it if it does.

An alert and the all-clear are each recorded (``watchdog alert sent``, ``watchdog all-clear
sent``) after the relay accepted them, so a re-run of either DAG never sends a second one: the
programme manager hears one alarm and, once reminders go out, one all-clear.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from statutory_clock.dates import long_date
from statutory_clock.email_layout import Block, Heading, Inset, Link, Paragraph, render, set_body
from statutory_clock.mail_headers import header_text, sealed, start_message
from statutory_clock.store.audit import Actor, audit
from statutory_clock.store.db import transaction
from statutory_clock.store.models import AuditEvent

HEARTBEAT = "reminders run completed"
STARTED = "reminders run started"
FAILED = "reminders run failed"
ALERT_SENT = "watchdog alert sent"
ALL_CLEAR_SENT = "watchdog all-clear sent"
_ENTITY_PREFIX = "reminders "


class RemindersState(enum.Enum):
    """What the register says about one day's reminders run."""

    COMPLETED = "completed"  # the heartbeat: every reminder was tried
    FAILED = "failed"  # a task failed for good and no run has completed since
    IN_PROGRESS = "in progress"  # started, not finished: running or waiting for a retry
    NOT_STARTED = "not started"  # nothing for the day, though reminders ran on an earlier day
    BEFORE_FIRST_RUN = "before the first run here"  # reminders first ran on a later day
    NEVER_RUN = "never run"  # nothing for any day yet: a new installation's first run to come


class Verdict(enum.Enum):
    """The watchdog's conclusion; only the last three send an alert."""

    WENT_OUT = "reminders went out"
    NOT_WATCHED = "not watched: reminders have never run before this day here"
    FAILED = "the reminders run failed"
    MISSING = "no reminders run started"
    UNFINISHED = "the reminders run did not finish"

    @property
    def alarming(self) -> bool:
        return self not in (Verdict.WENT_OUT, Verdict.NOT_WATCHED)


def _entity(as_of: date) -> str:
    return f"{_ENTITY_PREFIX}{as_of.isoformat()}"


def _actions(session: Session, as_of: date) -> list[str]:
    """The day's marks, oldest first."""
    return list(
        session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.entity == _entity(as_of))
            .order_by(AuditEvent.id)
        ).scalars()
    )


def reminders_state(engine: Engine, as_of: date) -> RemindersState:
    with transaction(engine) as session:
        actions = _actions(session, as_of)
        if HEARTBEAT in actions:
            return RemindersState.COMPLETED
        run_marks = [a for a in actions if a in (STARTED, FAILED)]
        if run_marks and run_marks[-1] == FAILED:
            return RemindersState.FAILED
        if run_marks:
            return RemindersState.IN_PROGRESS
        # ISO dates sort as dates: the first day reminders ran here, if they ever did.
        first = session.execute(
            select(AuditEvent.entity)
            .where(
                AuditEvent.action.in_((STARTED, HEARTBEAT)),
                AuditEvent.entity.startswith(_ENTITY_PREFIX),
            )
            .order_by(AuditEvent.entity)
            .limit(1)
        ).scalar_one_or_none()
    if first is None:
        return RemindersState.NEVER_RUN
    if first < _entity(as_of):
        return RemindersState.NOT_STARTED
    return RemindersState.BEFORE_FIRST_RUN


@dataclass(frozen=True)
class Completed:
    """The latest day whose reminders completed (its heartbeat), for the health endpoint."""

    day: date
    at: datetime  # as the register stored it (naive UTC on SQLite)
    sent: int | None


def last_completed(engine: Engine) -> Completed | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(AuditEvent.entity, AuditEvent.at, AuditEvent.new)
            .where(AuditEvent.action == HEARTBEAT, AuditEvent.entity.startswith(_ENTITY_PREFIX))
            .order_by(AuditEvent.entity.desc(), AuditEvent.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    sent = int(row.new) if row.new is not None and str(row.new).isdigit() else None
    day = date.fromisoformat(row.entity.removeprefix(_ENTITY_PREFIX))
    return Completed(day, row.at, sent)


def reminders_completed(engine: Engine, as_of: date) -> bool:
    return reminders_state(engine, as_of) is RemindersState.COMPLETED


def verdict(state: RemindersState, waited: float, patience: float) -> Verdict | None:
    """The watchdog's verdict after ``waited`` seconds, or None to keep waiting.

    A run that started is waited for until the sensor's own limit (its timeout, which the DAG
    sets beyond the reminders' retry window); the sensor timing out is the UNFINISHED verdict.
    """
    if state is RemindersState.COMPLETED:
        return Verdict.WENT_OUT
    if state is RemindersState.FAILED:
        return Verdict.FAILED
    if state is RemindersState.IN_PROGRESS:
        return None
    if state is RemindersState.BEFORE_FIRST_RUN:
        return Verdict.NOT_WATCHED  # e.g. a first start's catch-up slot, the day before
    if waited < patience:
        return None  # the scheduler may start the run late: wait, then decide
    return Verdict.MISSING if state is RemindersState.NOT_STARTED else Verdict.NOT_WATCHED


def verdict_without_the_sensor(state: RemindersState, patience: float) -> Verdict:
    """The verdict when the sensor ended without one (its limit reached, or the sensor itself
    failed): what the register says now, and a run still in progress is UNFINISHED. A sensor
    that failed while the reminders went out is then no alarm."""
    return verdict(state, float("inf"), patience) or Verdict.UNFINISHED


def _mark_once(session: Session, as_of: date, action: str, actor: str | Actor, note: str) -> bool:
    """Write the day's ``action`` mark unless it is there already; True if written."""
    if action in _actions(session, as_of):
        return False
    audit(session, actor, action, None, _entity(as_of), None, None, None, note)
    return True


def record_started(engine: Engine, as_of: date, actor: str | Actor) -> None:
    with transaction(engine) as session:
        _mark_once(session, as_of, STARTED, actor, "decide step began")


def record_heartbeat(session: Session, as_of: date, sent: int, actor: str | Actor) -> None:
    """The audit row :func:`reminders_completed` looks for: the day's sends were all tried."""
    audit(session, actor, HEARTBEAT, None, _entity(as_of), None, None, sent)


def record_failure(engine: Engine, as_of: date, actor: str | Actor, reason: str) -> None:
    """A task of the day's run failed for good (its retries used up): the watchdog need not
    wait for it. A later run that completes records the heartbeat, which wins."""
    with transaction(engine) as session:
        audit(
            session, actor, FAILED, None, _entity(as_of), None, None, None, header_text(reason, 300)
        )


def alert_already_sent(engine: Engine, as_of: date) -> bool:
    with transaction(engine) as session:
        return ALERT_SENT in _actions(session, as_of)


def record_alert(engine: Engine, as_of: date, actor: str | Actor, manager: str) -> None:
    with transaction(engine) as session:
        _mark_once(session, as_of, ALERT_SENT, actor, f"told {header_text(manager, 200)}")


def all_clear_due(engine: Engine, as_of: date) -> bool:
    """An alarm went out for the day, the reminders have now completed, no all-clear yet."""
    with transaction(engine) as session:
        actions = _actions(session, as_of)
    return ALERT_SENT in actions and HEARTBEAT in actions and ALL_CLEAR_SENT not in actions


def send_all_clear_if_due(
    engine: Engine,
    as_of: date,
    send: Callable[[EmailMessage], None],
    sender: str,
    manager: str,
    actor: str | Actor,
) -> bool:
    """Send the all-clear if :func:`all_clear_due`, then record it; True if it was sent.

    Recorded only once the relay accepted it, so a failed send is tried by the next run; a
    crash between the two could send it twice, which is the lesser harm for an all-clear.
    """
    if not all_clear_due(engine, as_of):
        return False
    send(all_clear_message(as_of, manager, sender))
    with transaction(engine) as session:
        _mark_once(session, as_of, ALL_CLEAR_SENT, actor, f"told {header_text(manager, 200)}")
    return True


def _reminders_dag(base: str) -> Link:
    return Link("Open the reminders DAG in Airflow", f"{base.rstrip('/')}/dags/reminders")


def alert_message(
    as_of: date, manager: str, sender: str, why: Verdict = Verdict.MISSING, base: str | None = None
) -> EmailMessage:
    """The alarm: the day's reminders have not gone out, why, and what to do."""
    subject = f"ALERT: reminders have not gone out – {long_date(as_of)}"
    msg = start_message(
        subject=subject,
        sender=sender,
        recipient=manager,
        sent_at=datetime.now(UTC),
        message_id=make_msgid(domain="statclock"),
    )
    reason = {
        Verdict.FAILED: "The reminders run failed after all its retries.",
        Verdict.MISSING: "No reminders run started: the scheduler may be stopped or stuck.",
        Verdict.UNFINISHED: "The reminders run started but has not finished, long after its "
        "last retry was due.",
    }.get(why, why.value)
    blocks: list[Block] = [
        Heading("Reminders have not gone out"),
        Inset(long_date(as_of), (reason,)),
        Paragraph(
            "People may not have been told about statutory deadlines due soon. Check the "
            "reminders DAG in Airflow (its last run and its logs) and the mail server; once "
            "fixed, run it again: the ledger makes sure nobody gets a reminder twice."
        ),
    ]
    if base:
        blocks.append(_reminders_dag(base))
    blocks.append(
        Paragraph(
            "You will get one all-clear email when the reminders have gone out. This alert is "
            "sent once a day at most.",
            small=True,
        )
    )
    set_body(msg, render(blocks, title=subject, preheader=reason))
    return sealed(msg)


def all_clear_message(as_of: date, manager: str, sender: str) -> EmailMessage:
    """After an alert: the day's reminders have now gone out."""
    subject = f"All clear: reminders have gone out – {long_date(as_of)}"
    msg = start_message(
        subject=subject,
        sender=sender,
        recipient=manager,
        sent_at=datetime.now(UTC),
        message_id=make_msgid(domain="statclock"),
    )
    blocks: list[Block] = [
        Heading("All clear: reminders have gone out"),
        Inset(long_date(as_of), ("The reminders for this day have now been sent.",)),
        Paragraph(
            "This follows the alert you were sent earlier. Nobody gets a reminder twice: the "
            "ledger records each one. Any email that could not be sent has its own notice."
        ),
    ]
    set_body(msg, render(blocks, title=subject, preheader="The reminders have now been sent."))
    return sealed(msg)
