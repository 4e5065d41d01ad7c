"""Recording facts about a case: an actual date, an action's progress, an extension or waiver.

Each runs in the caller's transaction: it locks the case, bumps its version, audits the change
and recomputes the case's milestones.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from statutory_clock.store.audit import Actor, as_actor, audit, bump_version
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import (
    ActionItem,
    CaseEvent,
    Inspection,
    MilestoneRecord,
    ProgressNote,
)
from statutory_clock.store.reading import get_case
from statutory_clock.store.recompute import RecomputeResult, recompute

RAG = ("red", "amber", "green", "complete")


def _check_milestone(case: Inspection, milestone: str) -> MilestoneRecord:
    for m in case.milestones:
        if m.milestone_id == milestone:
            return m
    known = ", ".join(sorted(m.milestone_id for m in case.milestones)[:8])
    raise RegisterError(
        "milestone",
        milestone,
        f"is not a milestone of case {case.key} "
        f"(e.g. {known}; see `statclock case show {case.key}`)",
    )


def record_event(
    session: Session,
    key: str,
    milestone: str,
    day: date,
    actor: str | Actor,
    as_of: date,
    note: str | None = None,
    expected_version: int | None = None,
) -> RecomputeResult:
    """Record the actual date of a milestone (a visit held, the plan submitted...)."""
    case = get_case(session, key, lock=True)
    bump_version(case, expected_version)
    _check_milestone(case, milestone)
    if day > as_of:
        raise RegisterError(
            "date",
            day.isoformat(),
            f"is in the future (today is {as_of.isoformat()}): record an "
            "actual date once it has happened",
        )
    report_day = case.received or case.published
    if day < report_day:
        raise RegisterError(
            "date", day.isoformat(), f"is before the report ({report_day.isoformat()})"
        )
    previous = next(
        (e for e in case.events if e.kind == "actual" and e.milestone == milestone), None
    )
    if previous is not None:
        audit(
            session,
            actor,
            "event corrected",
            key,
            f"event {milestone}",
            "date",
            previous.date,
            day,
            note,
        )
        previous.date, previous.precision, previous.note = day, "day", note
        previous.recorded_by = as_actor(actor).label
    else:
        position = max((e.position for e in case.events), default=0) + 1
        case.events.append(
            CaseEvent(
                position=position,
                kind="actual",
                milestone=milestone,
                date=day,
                precision="day",
                note=note,
                recorded_by=as_actor(actor).label,
            )
        )
        audit(session, actor, "event recorded", key, f"event {milestone}", "date", None, day, note)
    session.flush()
    return recompute(session, case, as_of, actor, reason=f"{milestone} held on {day.isoformat()}")


def update_action(
    session: Session,
    key: str,
    position: int,
    actor: str | Actor,
    as_of: date,
    status: str | None = None,
    note: str | None = None,
    note_date: date | None = None,
    expected_version: int | None = None,
) -> ActionItem:
    """Change an action's RAG status and/or add a dated progress note."""
    if status is not None and status not in RAG:
        raise RegisterError("status", status, f"is not one of {', '.join(RAG)}")
    if status is None and not note:
        raise RegisterError("action", position, "needs a new --status or a --progress note")
    case = get_case(session, key, lock=True)
    bump_version(case, expected_version)
    item = next((a for a in case.actions if a.position == position), None)
    if item is None:
        raise RegisterError(
            "action", position, f"is not an action of case {key} (it has {len(case.actions)})"
        )
    if status is not None and status != item.status:
        audit(
            session,
            actor,
            "action status changed",
            key,
            f"action {position}",
            "status",
            item.status,
            status,
        )
        item.status = status
    if note:
        when = note_date or as_of
        item.progress.append(ProgressNote(position=len(item.progress) + 1, date=when, note=note))
        audit(
            session,
            actor,
            "progress noted",
            key,
            f"action {position}",
            "progress",
            None,
            f"{when.isoformat()}: {note}",
        )
    session.flush()
    return item


def adjust_milestone(
    session: Session,
    key: str,
    milestone: str,
    actor: str | Actor,
    as_of: date,
    reason: str,
    agreed_by: str,
    extended_to: date | None = None,
    waive: bool = False,
    expected_version: int | None = None,
) -> RecomputeResult:
    """Grant an extension (a later due date) or a waiver, with the reason and who agreed it."""
    if not reason.strip():
        raise RegisterError("reason", reason, "is required for an extension or waiver")
    if not agreed_by.strip():
        raise RegisterError("agreed_by", agreed_by, "is required: who agreed it?")
    if (extended_to is None) == (not waive):
        raise RegisterError("extension", extended_to, "give either a new date or a waiver")
    case = get_case(session, key, lock=True)
    bump_version(case, expected_version)
    row = _check_milestone(case, milestone)
    if extended_to is not None:
        if extended_to <= row.due:
            raise RegisterError(
                "to", extended_to.isoformat(), f"is not after the due date ({row.due.isoformat()})"
            )
        audit(
            session,
            actor,
            "extension granted",
            key,
            f"milestone {milestone}",
            "extended_to",
            row.extended_to,
            extended_to,
            f"{reason} (agreed by {agreed_by})",
        )
        row.extended_to = extended_to
        row.due_version += 1  # reminders restart against the new date
    else:
        audit(
            session,
            actor,
            "waiver granted",
            key,
            f"milestone {milestone}",
            "waived",
            row.waived,
            True,
            f"{reason} (agreed by {agreed_by})",
        )
        row.waived = True
    row.adjustment_reason, row.agreed_by = reason, agreed_by
    session.flush()
    return recompute(session, case, as_of, actor, reason=reason)
