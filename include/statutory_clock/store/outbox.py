"""The reminder ledger: deciding and sending each reminder exactly once.

Two steps, each idempotent:

1. :func:`plan_reminders` decides, in one transaction, which reminders are due on ``as_of`` and
   writes one ``pending`` ledger row per (case, item, kind, due-date version, recipient). The
   unique key makes a second decision for the same thing impossible, whichever run or retry
   makes it. Pending rows superseded by a more relevant reminder are marked ``superseded``.
2. :func:`send_pending` sends each pending row in its own transaction: lock the row, send the
   email, mark it ``sent``, commit. If the SMTP server is down the send raises, the row stays
   pending and the task fails (and retries); nothing is lost and nothing sent twice. The one
   window left, between the server accepting a message and the commit, is closed as far as
   SMTP allows by a deterministic Message-ID, so a resend is the same message to a mail client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.reminders import (
    CHANGED,
    Reminder,
    ReminderItem,
    ReminderPolicy,
    compose,
    decide_all,
    message_id_for,
    still_relevant,
    working_days_to,
)
from statutory_clock.store.db import transaction
from statutory_clock.store.models import BoardPack, Contact, Inspection, ReminderLedger
from statutory_clock.store.register import calendar_for

REMINDER_ITEMS = ("milestone:", "action:")
PACK_PREFIX = "board_pack:"


@dataclass(frozen=True)
class SendReport:
    sent: int
    skipped: int  # already sent or superseded by another worker meanwhile


def _emails(contacts: Sequence[Contact]) -> tuple[dict[str, str], dict[str, str]]:
    email = {c.name: c.email for c in contacts if c.email}
    escalation = {c.name: c.escalation_contact for c in contacts if c.escalation_contact}
    return email, {name: email[to] for name, to in escalation.items() if to in email}


def case_items(case: Inspection) -> list[ReminderItem]:
    """Every milestone and dated action plan item of a case, as reminder items."""
    email, escalation = _emails(case.contacts)
    authority = case.local_authority.name
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
                done=m.actual is not None or m.waived,
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
                done=a.status == "complete",
            )
        )
    return items


def _open_cases(session: Session, keys: Sequence[str] | None = None) -> Sequence[Inspection]:
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
    """Decide today's reminders and record each as a pending ledger row (caller's transaction)."""
    calendar = calendar or calendar_for(session)
    cases = _open_cases(session)
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
        key = (by_case_id.get(row.inspection_id, ""), row.item)
        ledger.setdefault(key, set()).add((row.reminder_kind, row.due_version))
        if row.state == "pending":
            pending.setdefault(key, []).append(row)
        elif row.reminder_kind != CHANGED and (
            key not in last_told or row.due_version > last_told[key][0]
        ):
            last_told[key] = (row.due_version, row.due)
    items = [item for case in cases for item in case_items(case)]
    previous_due = {key: told_due for key, (version, told_due) in last_told.items()}
    decisions = decide_all(items, as_of, policy, calendar, ledger, previous_due, programme_manager)
    # A reminder decided on an earlier day but never sent (the mail server was down) is sent
    # now if it is still the most relevant one; otherwise a newer one replaces it.
    by_key = {(item.case_key, item.item): item for item in items}
    for key, stale in pending.items():
        item = by_key.get(key)
        keep = still_relevant(item, as_of, policy, calendar) if item else set()
        for row in stale:
            if (row.reminder_kind, row.due_version) not in keep:
                row.state = "superseded"
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


def send_pending(
    engine: Engine,
    send: Callable[[EmailMessage], None],
    sender: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    item_prefix: str | None = None,
) -> SendReport:
    """Send every pending ledger row (those whose item starts with ``item_prefix``, if given),
    each in its own transaction (see the module docstring)."""
    query = select(ReminderLedger.id).where(ReminderLedger.state == "pending")
    if item_prefix is not None:
        query = query.where(ReminderLedger.item.startswith(item_prefix))
    with transaction(engine) as session:
        ids = session.execute(query.order_by(ReminderLedger.id)).scalars().all()
    sent = skipped = 0
    for row_id in ids:
        with transaction(engine) as session:
            row = session.execute(
                select(ReminderLedger)
                .where(ReminderLedger.id == row_id)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if row is None or row.state != "pending":
                skipped += 1  # another worker has it, or it was sent meanwhile
                continue
            message = _message_for(session, row, sender, now())
            if message is None:  # the item moved or went since the decision: a new one follows
                row.state = "superseded"
                skipped += 1
                continue
            send(message)  # raises if the server refuses: the row stays pending
            row.state, row.sent_at, row.message_id = "sent", now(), message["Message-ID"]
        sent += 1
    return SendReport(sent=sent, skipped=skipped)


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
    session: Session, row: ReminderLedger, sender: str, at: datetime
) -> EmailMessage | None:
    from statutory_clock.board_pack.assemble import compose_pack_email

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
    message_id = message_id_for(
        case.key, row.item, row.reminder_kind, row.due_version, row.recipient
    )
    return compose_pack_email(pack, case, row.recipient, sender, at, message_id)


def _message_for(
    session: Session, row: ReminderLedger, sender: str, at: datetime
) -> EmailMessage | None:
    if row.item.startswith(PACK_PREFIX):
        return _pack_message(session, row, sender, at)
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
    item = next((i for i in case_items(case) if i.item == row.item), None)
    if item is None or item.due_version != row.due_version or item.done:
        return None
    calendar = calendar_for(session)
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
    message_id = message_id_for(
        case.key, row.item, row.reminder_kind, row.due_version, row.recipient
    )
    return compose(reminder, row.recipient, sender, at, message_id)
