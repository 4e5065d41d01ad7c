"""Recomputation: bringing a case's persisted milestones in line with its facts.

Statuses are as of a given day, never the wall clock, with the register's calendar. Every date
that moves is audited in the caller's transaction.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from statutory_clock.engine import (
    CaseFacts,
    ClockBuilder,
    FactsError,
    Milestone,
    Recommendation,
)
from statutory_clock.rules.overlay import overlay_in_force
from statutory_clock.store.audit import Actor, audit, bump_version, lock_for_writing
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import (
    CaseEvent,
    Inspection,
    Intervention,
    MilestoneRecord,
)
from statutory_clock.store.models import Recommendation as RecommendationRow
from statutory_clock.store.reading import calendar_for, case_facts, persisted_status


@dataclass
class RecomputeResult:
    key: str
    added: list[str] = field(default_factory=list)
    moved: list[tuple[str, date, date]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    status_changed: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.moved or self.removed or self.status_changed)


def _owner_for(milestone: Milestone, owners: Mapping[str, str]) -> str | None:
    rule_id = milestone.rule.split(".", 1)[-1]
    return owners.get(milestone.id) or owners.get(rule_id)


def recompute(
    session: Session,
    case: Inspection,
    as_of: date,
    actor: str | Actor,
    builder: ClockBuilder | None = None,
    reason: str | None = None,
    owners: Mapping[str, str] | None = None,
    facts: CaseFacts | None = None,
    *,
    statuses: bool = True,
) -> RecomputeResult:
    """Bring the persisted milestones in line with the facts, auditing every difference.

    With ``statuses=False`` only the dates are brought up to date: for a caller that changes
    more and recomputes again in the same transaction, so each status change is audited once,
    from what it was to what it ends as.

    A milestone whose due date moves gets ``due_version + 1`` (fresh reminders, and one
    "deadline changed" notice). Statuses are as of ``as_of``, never the wall clock.
    """
    builder = builder or ClockBuilder(calendar=calendar_for(session))
    try:
        clock = builder.compute(facts or case_facts(case), case.rounding, strict_events=False)
    except FactsError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None
    result = RecomputeResult(case.key)
    why = _under_overlay(overlay_in_force(builder.rulebooks))
    existing = {m.milestone_id: m for m in case.milestones}
    seen = set()
    for m in clock.milestones:
        seen.add(m.id)
        row = existing.get(m.id)
        if row is None:
            row = MilestoneRecord(
                milestone_id=m.id,
                title=m.title,
                rule=m.rule,
                source=m.source,
                basis=m.basis,
                confidence=m.confidence,
                kind=m.kind,
                party=m.party,
                due=m.due,
                window_start=m.window_start,
                actual=m.actual,
                status="upcoming",
                due_version=1,
                waived=False,
                owner=_owner_for(m, owners or {}),
            )
            case.milestones.append(row)
            result.added.append(m.id)
            audit(
                session,
                actor,
                "milestone added",
                case.key,
                f"milestone {m.id}",
                "due",
                None,
                m.due,
                why(reason or m.basis),
            )
        else:
            if row.due != m.due:
                result.moved.append((m.id, row.due, m.due))
                audit(
                    session,
                    actor,
                    "deadline moved",
                    case.key,
                    f"milestone {m.id}",
                    "due",
                    row.due,
                    m.due,
                    why(reason or m.basis),
                )
                row.due = m.due
                row.due_version += 1
            for name in (
                "window_start",
                "actual",
                "basis",
                "title",
                "rule",
                "source",
                "confidence",
                "kind",
                "party",
            ):
                if getattr(row, name) != getattr(m, name):
                    if name in ("window_start", "actual"):
                        audit(
                            session,
                            actor,
                            f"{name} changed",
                            case.key,
                            f"milestone {m.id}",
                            name,
                            getattr(row, name),
                            getattr(m, name),
                            why(reason) if name == "window_start" else reason,
                        )
                    setattr(row, name, getattr(m, name))
        if not statuses:
            continue
        # The row now carries the engine's dates, so its status is the persisted one.
        status = persisted_status(row, as_of, builder.calendar, case_open=case.open)
        if row.status != status or row.status_as_of is None:
            # A row never given a status (just added) has nothing to change from.
            if row.status_as_of is not None and row.status != status:
                result.status_changed.append((m.id, row.status, status))
                audit(
                    session,
                    actor,
                    "status changed",
                    case.key,
                    f"milestone {m.id}",
                    "status",
                    row.status,
                    status,
                    f"as of {as_of.isoformat()}",
                )
            row.status = status
        row.status_as_of = as_of
    for milestone_id, row in existing.items():
        if milestone_id not in seen:
            result.removed.append(milestone_id)
            audit(
                session,
                actor,
                "milestone removed",
                case.key,
                f"milestone {milestone_id}",
                "due",
                row.due,
                None,
                why(reason or "no longer follows from the facts"),
            )
            case.milestones.remove(row)
            session.delete(row)
    return result


def _under_overlay(sha256: str | None) -> Callable[[str | None], str | None]:
    """The audit reason of a change made while an operator's rules overlay is in force: the
    reason, then "local override" and the overlay file's checksum, so the trail says which
    overlay moved a date (its basis line names the file)."""
    if sha256 is None:
        return lambda reason: reason
    mark = f"local override {sha256[:12]}"
    return lambda reason: f"{reason}; {mark}" if reason else mark


def recompute_all(
    session: Session, as_of: date, actor: str | Actor, keys: Iterable[str] | None = None
) -> list[RecomputeResult]:
    """Recompute every open case (or those named), each locked while it is updated.

    Built for the whole portfolio every working day: the facts come from three narrow column
    queries rather than ORM objects, only the milestones are loaded as objects (they are what
    gets updated), and the cyclic garbage collector is paused while the objects are built.
    """
    builder = ClockBuilder(calendar=calendar_for(session))
    query = (
        select(Inspection)
        .options(selectinload(Inspection.milestones))
        .where(Inspection.open.is_(True))
        .order_by(Inspection.key)
    )
    if keys is not None:
        query = query.where(Inspection.key.in_(list(keys)))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        lock_for_writing(session)
        cases = session.execute(query.with_for_update(of=Inspection)).scalars().all()
        facts = _bulk_facts(session, {c.id for c in cases})
        results = []
        for case in cases:
            result = recompute(session, case, as_of, actor, builder=builder, facts=facts(case))
            if result.changed:
                bump_version(case, None)
            results.append(result)
        session.flush()
    finally:
        if was_enabled:
            gc.enable()
    return results


def _bulk_facts(session: Session, case_ids: set[int]) -> Any:
    """A function from a case to its CaseFacts, from three column queries over all cases."""
    open_ids = select(Inspection.id).where(Inspection.open.is_(True))
    events: dict[int, dict[str, date]] = {}
    for case_id, milestone, day in session.execute(  # date IS NOT NULL: never None here
        select(CaseEvent.inspection_id, CaseEvent.milestone, CaseEvent.date).where(
            CaseEvent.kind == "actual",
            CaseEvent.date.is_not(None),
            CaseEvent.inspection_id.in_(open_ids),
        )
    ):
        if day is not None:
            events.setdefault(case_id, {})[milestone] = day
    recommendations: dict[int, list[Recommendation]] = {}
    for case_id, number, timescale, text in session.execute(
        select(
            RecommendationRow.inspection_id,
            RecommendationRow.number,
            RecommendationRow.timescale,
            RecommendationRow.text,
        )
        .where(
            RecommendationRow.timescale.is_not(None), RecommendationRow.inspection_id.in_(open_ids)
        )
        .order_by(RecommendationRow.inspection_id, RecommendationRow.number)
    ):
        recommendations.setdefault(case_id, []).append(
            Recommendation(number, timescale, text or "")
        )
    directions: dict[int, date | None] = {
        case_id: direction
        for case_id, direction in session.execute(
            select(Intervention.inspection_id, Intervention.direction).where(
                Intervention.inspection_id.in_(open_ids)
            )
        )
    }

    def facts(case: Inspection) -> CaseFacts:
        return CaseFacts(
            framework=case.framework,
            published=case.published,
            received=case.received,
            judgements=dict(case.judgements),
            direction=directions.get(case.id),
            events=events.get(case.id, {}),
            recommendations=tuple(recommendations.get(case.id, ())),
        )

    return facts
