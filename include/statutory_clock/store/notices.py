"""Chat notices (Slack, Teams) through the reminder ledger, exactly once, like email.

Two steps, mirroring :mod:`statutory_clock.store.outbox`:

1. :func:`plan_notices`, in the decide step's transaction, right after
   :func:`~statutory_clock.store.outbox.plan_reminders`: for each of the day's email decisions
   that a channel hears about (overdue, deadline changed; see
   :func:`statutory_clock.chat_notices.is_notice_kind`) one ``pending`` row per channel, keyed
   like every ledger row on (case, item, kind, due-date version, recipient) with the channel as
   recipient (``slack:statclock_slack``). Following the emails' decisions means a channel is
   told what the owners are told, on the same day, and never decides differently. A pending or
   failed channel row that is no longer the most relevant reminder is superseded, never posted
   late.
2. :func:`post_pending` posts each pending row in its own transaction: lock the row, post,
   mark it ``sent``, commit. :class:`~statutory_clock.chat_notices.EndpointUnavailable`
   (refused, timed out, 5xx, 429) stops the batch with the row as it was: the task fails and
   Airflow retries. :class:`~statutory_clock.chat_notices.PostRefused` (a 4xx for this payload)
   marks the row failed with the reason, and the batch goes on; failed rows are retried like
   failed emails, up to :data:`~statutory_clock.store.outbox.MAX_SEND_ATTEMPTS`.

As with SMTP, one window cannot be closed: the endpoint accepting a post and the commit. A
crash between them posts that notice again on the retry.

No channel configured: :func:`plan_notices` writes nothing, and email decisions never see a
channel's rows (:mod:`statutory_clock.store.channels`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from email.message import EmailMessage

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from statutory_clock.addresses import base_url, council_page
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.chat_notices import ChatNotice, PostRefused, is_notice_kind
from statutory_clock.mail_headers import header_text, message_id, sealed, start_message
from statutory_clock.reminders import ReminderPolicy
from statutory_clock.store.audit import lock_for_writing
from statutory_clock.store.channels import Channel, email_rows, is_webhook_recipient
from statutory_clock.store.db import transaction
from statutory_clock.store.delivery import failure_list
from statutory_clock.store.models import ReminderLedger
from statutory_clock.store.outbox import (
    MAX_SEND_ATTEMPTS,
    REMINDER_ITEMS,
    UNSENT,
    SendFailure,
    SendReport,
    case_items,
    mark_failed,
    open_cases,
    reminder_for,
    sendable,
    supersede_unless_relevant,
)
from statutory_clock.store.reading import calendar_for

Post = Callable[[ChatNotice], None]


def plan_notices(
    session: Session,
    as_of: date,
    channels: Sequence[Channel],
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar | None = None,
) -> list[ReminderLedger]:
    """Record the day's chat notices as pending ledger rows (caller's transaction).

    Call after ``plan_reminders`` in the same transaction: the notices follow the emails
    decided for ``as_of``. Idempotent: a second call finds its rows and adds nothing.
    """
    if not channels:
        return []
    lock_for_writing(session)  # already held after plan_reminders; harmless to ask again
    calendar = calendar or calendar_for(session)
    rows = (
        session.execute(
            select(ReminderLedger).where(
                or_(*(ReminderLedger.item.startswith(p) for p in REMINDER_ITEMS))
            )
        )
        .scalars()
        .all()
    )
    webhook = [row for row in rows if is_webhook_recipient(row.recipient)]
    _supersede_stale(session, webhook, as_of, policy, calendar)
    # The ledger's unique key spans every state, superseded included.
    existing = {
        (r.inspection_id, r.item, r.reminder_kind, r.due_version, r.recipient) for r in webhook
    }
    today = {
        (r.inspection_id, r.item, r.reminder_kind, r.due_version): r.due
        for r in session.execute(
            select(ReminderLedger)
            .where(
                email_rows(),
                ReminderLedger.decided_on == as_of,
                ReminderLedger.state != "superseded",
            )
            .order_by(ReminderLedger.id)
        ).scalars()
        if r.item.startswith(REMINDER_ITEMS) and is_notice_kind(r.reminder_kind)
    }
    created = []
    for (case_id, item, kind, version), due in today.items():
        for channel in channels:
            if (case_id, item, kind, version, channel.recipient) in existing:
                continue
            row = ReminderLedger(
                inspection_id=case_id,
                item=item,
                reminder_kind=kind,
                due_version=version,
                due=due,
                recipient=channel.recipient,
                state="pending",
                decided_on=as_of,
            )
            session.add(row)
            created.append(row)
    session.flush()
    return created


def _supersede_stale(
    session: Session,
    rows: Sequence[ReminderLedger],
    as_of: date,
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar,
) -> None:
    """A channel row decided on an earlier day and never posted is posted now only if it is
    still the most relevant reminder for its item; otherwise it is superseded."""
    unsent = [row for row in rows if row.state in UNSENT and row.decided_on < as_of]
    if not unsent:
        return
    items = {
        (case.id, item.item): item
        for case in open_cases(session)
        for item in case_items(case, as_of, calendar)
    }
    for row in unsent:
        item = items.get((row.inspection_id, row.item))
        supersede_unless_relevant(item, [row], as_of, policy, calendar)


# -- posting ---------------------------------------------------------------------------------


def council_url(key: str) -> str:
    """The council's page in statclock, from ``$STATCLOCK_BASE_URL``."""
    base = base_url()
    assert base is not None  # base_url() has a default
    return council_page(base, key)


def post_pending(
    engine: Engine,
    posts: Mapping[str, Post],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendReport:
    """Post every pending row (and every failed one with attempts left) of the channels in
    ``posts`` (recipient -> post), each in its own transaction. See the module docstring."""
    if not posts:
        return SendReport(sent=0, skipped=0)
    council_url("")  # a bad $STATCLOCK_BASE_URL stops the batch before any row
    query = (
        select(ReminderLedger.id)
        .where(
            ReminderLedger.recipient.in_(list(posts)),
            or_(
                ReminderLedger.state == "pending",
                (ReminderLedger.state == "failed") & (ReminderLedger.attempts < MAX_SEND_ATTEMPTS),
            ),
        )
        .order_by(ReminderLedger.id)
    )
    with transaction(engine) as session:
        ids = session.execute(query).scalars().all()
    sent = skipped = 0
    failures: list[SendFailure] = []
    for row_id in ids:
        with transaction(engine) as session:
            row = session.execute(
                select(ReminderLedger)
                .where(ReminderLedger.id == row_id)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if row is None or not sendable(row):
                skipped += 1  # another worker has it, or it was posted meanwhile
                continue
            try:
                notice = _notice_for(session, row)
            except SQLAlchemyError:
                raise
            except Exception as error:  # this row's data: recorded, reported, the rest go on
                failures.append(mark_failed(session, row, error))
                continue
            if notice is None:  # the item moved, was done or closed since the decision
                row.state = "superseded"
                skipped += 1
                continue
            try:
                posts[row.recipient](notice)
            except PostRefused as error:
                failures.append(mark_failed(session, row, error))
                continue
            # EndpointUnavailable and anything unforeseen propagate: this row and the rest
            # stay as they were, for the retry.
            row.state, row.sent_at = "sent", now()
            row.attempts = (row.attempts or 0) + 1
        sent += 1
    return SendReport(sent=sent, skipped=skipped, failures=tuple(failures))


def _notice_for(session: Session, row: ReminderLedger) -> ChatNotice | None:
    """The notice for ``row`` as of the day it was decided, or None if it no longer applies."""
    found = reminder_for(session, row)
    if found is None:
        return None
    reminder, case_key = found
    item = reminder.item
    return ChatNotice(
        channel=row.recipient,
        case_key=case_key,
        item=row.item,
        kind=row.reminder_kind,
        authority=item.authority,
        title=item.title,
        due=item.due,
        working_days=reminder.working_days,
        previous_due=reminder.previous_due,
        owner=item.owner,
        council_url=council_url(case_key),
    )


# -- telling the programme manager -----------------------------------------------------------


def failure_notice(
    failures: Sequence[SendFailure], manager: str, sender: str, at: datetime
) -> EmailMessage:
    """The programme manager's email about chat notices the endpoint refused."""
    count = len(failures)
    ids = sorted(f.row_id for f in failures)
    msg = start_message(
        subject=f"statclock: {count} Slack or Teams notice{'s' if count != 1 else ''} "
        "could not be posted",
        sender=sender,
        recipient=manager,
        sent_at=at,
        message_id=message_id(ids[0], *ids, prefix="w"),
    )
    lines = [
        "The chat channel refused the notices below. Every other notice of the run was posted, "
        "and the emails are not affected.",
        "",
    ]
    lines += failure_list(
        failures,
        retrying=f"statclock tries again on the next run, at most {MAX_SEND_ATTEMPTS} tries in all",
        giving_up="statclock will not try again",
    )
    lines += [
        "A refused notice usually means the channel's webhook does not accept this message "
        "(its reply is above). See docs/notices.md.",
        "",
        "You are told once about each refused notice, however many times it is retried.",
    ]
    msg.set_content("\n".join(lines) + "\n")
    return sealed(msg)


def describe_failure(failure: SendFailure) -> str:
    """A refused notice in the task's error line: case, item and channel."""
    return header_text(f"{failure.case_key} {failure.item} to {failure.recipient}")
