"""Reading the register: cases, their facts, the register's calendar, a milestone's status
and a case's lifecycle (why, when and by whom it closed).

Nothing here writes; :func:`get_case` with ``lock`` also takes the writer lock and the case's
row lock for a caller about to change it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.engine import (
    CaseFacts,
    InterventionFact,
    Milestone,
    Party,
    Recommendation,
    milestone_status,
)
from statutory_clock.store.audit import lock_for_writing
from statutory_clock.store.case_document import Lifecycle
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import (
    ActionItem,
    CalendarChange,
    ImprovementBoard,
    Inspection,
)
from statutory_clock.vocabulary import CLOSE_REASONS, MilestoneState


def _case_query() -> Any:
    return select(Inspection).options(
        selectinload(Inspection.local_authority),
        selectinload(Inspection.contacts),
        selectinload(Inspection.recommendations),
        selectinload(Inspection.actions).selectinload(ActionItem.progress),
        selectinload(Inspection.events),
        selectinload(Inspection.milestones),
        selectinload(Inspection.intervention),
        selectinload(Inspection.board).selectinload(ImprovementBoard.meetings),
    )


def get_case(session: Session, key: str, *, lock: bool = False) -> Inspection:
    """Load a case; with ``lock`` the case row is locked until the transaction ends."""
    if lock:
        lock_for_writing(session)
        # Lock the bare row first (FOR UPDATE cannot apply to the eager-loaded joins).
        found = session.execute(
            select(Inspection.id).where(Inspection.key == key).with_for_update()
        ).scalar_one_or_none()
        if found is None:
            raise RegisterError("case", key, "is not in the register (see `statclock case list`)")
    case: Inspection | None = session.execute(
        _case_query().where(Inspection.key == key)
    ).scalar_one_or_none()
    if case is None:
        raise RegisterError("case", key, "is not in the register (see `statclock case list`)")
    return case


def list_cases(session: Session) -> Sequence[Inspection]:
    query = select(Inspection).options(
        selectinload(Inspection.local_authority), selectinload(Inspection.milestones)
    )
    return session.execute(query.order_by(Inspection.key)).scalars().all()


def calendar_for(session: Session) -> WorkingDayCalendar:
    """The working-day calendar with every holiday added or removed since the snapshot."""
    changes = session.execute(select(CalendarChange)).scalars().all()
    return WorkingDayCalendar(
        added=[c.day for c in changes if c.change == "added"],
        removed=[c.day for c in changes if c.change == "removed"],
    )


def case_facts(case: Inspection) -> CaseFacts:
    events = {e.milestone: e.date for e in case.events if e.kind == "actual" and e.date}
    return CaseFacts(
        framework=case.framework,
        published=case.published,
        received=case.received,
        judgements=dict(case.judgements),
        direction=case.intervention.direction if case.intervention else None,
        events=events,
        recommendations=tuple(
            Recommendation(r.number, r.timescale, r.text or "") for r in case.recommendations
        ),
        interventions=intervention_facts(case.intervention.interventions)
        if case.intervention
        else (),
    )


def intervention_facts(rows: Sequence[Any]) -> tuple[InterventionFact, ...]:
    """The engine's facts from the ``dfe_intervention.interventions`` JSON column."""
    return tuple(
        InterventionFact(
            r["kind"],
            date.fromisoformat(r["date"]),
            bool(r["commissioner"]),
            bool(r["independent_chair"]),
        )
        for r in rows or ()
    )


_PARTIES: tuple[Party, ...] = get_args(Party)


def party_of(m: PersistedMilestone) -> Party:
    """The milestone's party as the engine types it (the column holds one of its values)."""
    party = m.party or "council"
    if party not in _PARTIES:
        raise ValueError(f"milestone {m.milestone_id}: party {party!r} is not one of {_PARTIES}")
    return party


class PersistedMilestone(Protocol):
    """What a milestone's status is decided from: a :class:`MilestoneRecord`, or the same
    columns read without building ORM objects (the read model's portfolio does, for speed)."""

    @property
    def milestone_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def effective_due(self) -> date: ...
    @property
    def window_start(self) -> date | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def actual(self) -> date | None: ...
    @property
    def party(self) -> str: ...
    @property
    def waived(self) -> bool: ...


def persisted_status(
    m: PersistedMilestone,
    as_of: date,
    calendar: WorkingDayCalendar,
    *,
    case_open: bool = True,
) -> MilestoneState:
    """A persisted milestone's status on ``as_of``, after any extension or waiver.

    ``calendar`` is required, and should be the register's (:func:`calendar_for`): the bundled
    calendar alone misses a bank holiday an operator or the GOV.UK feed added.

    In a closed case, a milestone not met, missed or waived is "closed" whatever the date:
    the case ended before it was done, so it is neither overdue nor a prompt to record it.
    """
    # A status depends on the dates, the party and the waiver only (not the citation).
    probe = Milestone(
        m.milestone_id,
        m.title,
        m.effective_due,
        m.window_start,
        "",
        "",
        "",
        "",
        m.kind,
        m.actual,
        party_of(m),
    )
    status = milestone_status(probe, as_of, waived=m.waived, calendar=calendar)
    if not case_open and status not in ("met", "missed", "waived"):
        return "closed"
    return status


def lifecycle_of(case: Inspection) -> Lifecycle | None:
    """The case's closing, or None while it is open."""
    if case.open:
        return None
    reason = case.closed_reason if case.closed_reason in CLOSE_REASONS else "closed_by_person"
    return Lifecycle(
        reason=reason,
        closed_on=case.closed_on or case.published,
        by=case.closed_by,
        note=case.closed_note,
        superseded_by=case.superseded_by,
    )
