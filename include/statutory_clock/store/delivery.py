"""A send run, as a DAG task runs it: send what can be sent, then say loudly what could not.

:func:`run_sends` is the whole body of the ``send_reminders`` and ``send_packs`` tasks:

1. :func:`~statutory_clock.store.outbox.send_pending` sends every pending row, and every failed
   row with attempts left. A poison row (cannot be built, or refused by the relay) is marked
   failed on its own and the rest go out; a connection failure raises at once, leaving rows as
   they were (the task fails and Airflow retries, as before).
2. For the reminders run, the heartbeat the watchdog looks for
   (:func:`~statutory_clock.store.watchdog.record_heartbeat`): every row was tried, so the
   run *completed*, even if some rows failed. The watchdog's alarm means "nothing went out";
   failed rows have their own notice.
3. If rows failed: one email to the programme manager listing the failures not reported before.
   Each failure reported is recorded as an audit row (``send failure reported``, entity
   ``ledger row <id>``), so a task retry or the next day's run, trying the row again and failing
   again, does not repeat it: the programme manager hears once per failed row.
4. Then :class:`DeliveryFailed` with one line saying how many failed and why, so the run shows
   red in Airflow.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage

from sqlalchemy import Engine, select

from statutory_clock.mail_headers import (
    MessageBuildError,
    header_text,
    message_id,
    sealed,
    start_message,
)
from statutory_clock.store.audit import Actor, audit
from statutory_clock.store.db import transaction
from statutory_clock.store.models import AuditEvent
from statutory_clock.store.outbox import (
    MAX_SEND_ATTEMPTS,
    PackComposer,
    SendFailure,
    SendReport,
    describe,
    refused_by_relay,
    send_pending,
)
from statutory_clock.store.watchdog import record_heartbeat

log = logging.getLogger(__name__)

FAILURE_REPORTED = "send failure reported"
# Failures spelt out in the task's one-line error; the notice lists them all.
LISTED_IN_ERROR = 3


class DeliveryFailed(RuntimeError):
    """Some messages could not be sent; the message is one line saying how many and why."""


@dataclass(frozen=True)
class Notice:
    """What became of telling the programme manager about a run's failures."""

    reported: tuple[SendFailure, ...]  # listed in this run's notice (none: all told before)
    problem: str | None = None  # why the notice could not be sent, if it could not


def run_sends(
    engine: Engine,
    send: Callable[[EmailMessage], None],
    sender: str,
    programme_manager: str,
    actor: str | Actor,
    *,
    item_prefix: str | None = None,
    heartbeat_for: date | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    compose_pack: PackComposer | None = None,
) -> SendReport:
    """Send, record the heartbeat, tell the programme manager, fail if anything failed.

    Board-pack rows are sent only with ``compose_pack`` (see :func:`send_pending`).

    Returns the report when every row was sent (or skipped); raises :class:`DeliveryFailed`
    after steps 2 and 3 when any row failed; lets a connection failure propagate.
    """
    report = send_pending(
        engine, send, sender, now=now, item_prefix=item_prefix, compose_pack=compose_pack
    )
    if heartbeat_for is not None:
        with transaction(engine) as session:
            record_heartbeat(session, heartbeat_for, report.sent, actor)
    log.info("%d email(s) sent, %d skipped, %d failed", report.sent, report.skipped, report.failed)
    if not report.failures:
        return report
    notice = tell_programme_manager(
        engine, send, sender, programme_manager, report.failures, actor, now()
    )
    raise DeliveryFailed(failure_line(report, told_line(notice, programme_manager)))


def tell_programme_manager(
    engine: Engine,
    send: Callable[[EmailMessage], None],
    sender: str,
    programme_manager: str,
    failures: Sequence[SendFailure],
    actor: str | Actor,
    at: datetime,
    compose: Callable[[Sequence[SendFailure], str, str, datetime], EmailMessage] | None = None,
) -> Notice:
    """One notice listing the failures not reported before, then an audit row for each.

    The audit rows are written only once the relay has accepted the notice, so a notice that
    could not be sent is tried again by the next run. A connection failure propagates.
    ``compose`` builds the notice (default :func:`failure_notice`; chat notices have their own).
    """
    entities = {_entity(f): f for f in failures}
    with transaction(engine) as session:
        done = set(
            session.execute(
                select(AuditEvent.entity).where(
                    AuditEvent.action == FAILURE_REPORTED, AuditEvent.entity.in_(list(entities))
                )
            ).scalars()
        )
    new = tuple(f for entity, f in entities.items() if entity not in done)
    if not new:
        return Notice(reported=())
    try:
        send((compose or failure_notice)(new, programme_manager, sender, at))
    except MessageBuildError as error:
        return Notice(reported=(), problem=describe(error))
    except (smtplib.SMTPException, OSError) as error:
        if not refused_by_relay(error):
            raise
        return Notice(reported=(), problem=describe(error))
    with transaction(engine) as session:
        for failure in new:
            audit(
                session,
                actor,
                FAILURE_REPORTED,
                failure.case_key,
                _entity(failure),
                "failure",
                None,
                failure.reason,
                f"told {header_text(programme_manager, 200)}",
            )
    return Notice(reported=new)


def _entity(failure: SendFailure) -> str:
    return f"ledger row {failure.row_id}"


def _what(failure: SendFailure) -> str:
    return header_text(
        f"{failure.case_key} {failure.item} ({failure.kind}) to {failure.recipient}", 300
    )


def failure_list(failures: Sequence[SendFailure], *, retrying: str, giving_up: str) -> list[str]:
    """Each failed ledger row as a numbered entry: what, why, how many tries and what next
    (``retrying`` or ``giving_up``); shared by the email and the chat notices' failure emails."""
    lines: list[str] = []
    for number, failure in enumerate(failures, start=1):
        retry = retrying if failure.will_retry else giving_up
        lines += [
            f"{number}. Case {_what(failure)}",
            f"   Why: {failure.reason}",
            f"   Tried {failure.attempts} time{'s' if failure.attempts != 1 else ''}; {retry}. "
            f"Ledger row {failure.row_id}.",
            "",
        ]
    return lines


def failure_notice(
    failures: Sequence[SendFailure], manager: str, sender: str, at: datetime
) -> EmailMessage:
    """The programme manager's notice: each failed message, why, and what happens next."""
    count = len(failures)
    ids = sorted(f.row_id for f in failures)
    msg = start_message(
        subject=f"statclock: {count} email{'s' if count != 1 else ''} could not be sent",
        sender=sender,
        recipient=manager,
        sent_at=at,
        # The same failures give the same ID, so a notice sent twice (a crash before its audit
        # rows were written) is one message to a mail client.
        message_id=message_id(ids[0], *ids, prefix="f"),
    )
    lines = [
        "statclock could not send the emails below. Every other email of the run was sent.",
        "",
    ]
    lines += failure_list(
        failures,
        retrying=f"statclock tries again on the next run, at most {MAX_SEND_ATTEMPTS} tries in "
        "all (a reminder overtaken by a newer one is not sent late)",
        giving_up="statclock will not try again: send it by hand once the data is correct",
    )
    lines += [
        "A message that could not be built usually means a name or an email address in the "
        "register holds a line break or is not a valid address: correct it in the case file "
        "(statclock case export, then statclock case import --replace). A message refused by "
        "the mail server names the server's reply above.",
        "",
        "You are told once about each failed email, however many times it is retried.",
    ]
    msg.set_content("\n".join(lines) + "\n")
    return sealed(msg)


def told_line(notice: Notice, manager: str | None) -> str:
    """Whether the programme manager was told of a run's failures (naming the address if
    ``manager`` is given), as the end of the task's error line."""
    if notice.problem:
        return f"the programme manager could not be told ({notice.problem})"
    if notice.reported:
        named = f" ({header_text(manager, 100)})" if manager else ""
        return f"the programme manager{named} has been told"
    return "the programme manager was told on an earlier run"


def failure_line(
    report: SendReport,
    told: str,
    *,
    noun: str = "email",
    done: str = "sent",
    what: Callable[[SendFailure], str] = _what,
) -> str:
    """The task's error: one line, how many ``noun``s failed and why, and ``told``
    (:func:`told_line`). Chat notices use it with their own noun, verb and description."""
    count = report.failed
    listed = "; ".join(
        f"ledger row {f.row_id} ({what(f)}): {f.reason}" for f in report.failures[:LISTED_IN_ERROR]
    )
    more = count - LISTED_IN_ERROR
    if more > 0:
        listed += f"; and {more} more"
    return header_text(
        f"{count} {noun}{'s' if count != 1 else ''} of {report.sent + count} could not be {done} "
        f"and {'are' if count != 1 else 'is'} marked failed: {listed}; {told}",
        2000,
    )
