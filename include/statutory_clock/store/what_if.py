"""What-if: what would move if a case's facts were different. Reads the register, writes nothing.

"If the plan is submitted on X, the visit is held on Y, or publication is treated as Z, what
moves?" The case's facts are read as :mod:`~statutory_clock.store.recompute` reads them
(:func:`~statutory_clock.store.reading.case_facts`), a changed copy is made, and both are run
through the engine with the register's calendar. Nothing is locked, flushed or added to the
session: the answer is computed, never recorded.

Dates compared are the ones a person must meet: the rules' due date, or an agreed extension
where it is later (as :attr:`MilestoneRecord.effective_due`); a waived milestone stays waived.
Both sides come from the engine, so a clock the daily recompute has not yet caught up with
does not show up as a "change".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.orm import Session

from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.engine import ClockBuilder, FactsError, Milestone, Party, milestone_status
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import MilestoneRecord
from statutory_clock.store.reading import calendar_for, case_facts, get_case
from statutory_clock.vocabulary import MilestoneState

MAX_EVENTS = 10  # hypothetical dates in one question: a page offers three


@dataclass(frozen=True)
class WhatIfRow:
    """One milestone, as the register's facts make it and as the hypothetical ones would.

    ``current_due`` is None for a milestone only the what-if produces, ``new_due`` for one it
    no longer would; ``moved_working_days`` is signed (later is positive) and None then."""

    id: str
    title: str
    party: Party
    current_due: date | None
    new_due: date | None
    current_actual: date | None
    new_actual: date | None
    moved_working_days: int | None
    status_now: MilestoneState | None
    status_then: MilestoneState | None
    extended_to: date | None
    waived: bool

    @property
    def changed(self) -> bool:
        return (
            self.current_due != self.new_due
            or self.current_actual != self.new_actual
            or self.status_now != self.status_then
        )

    @property
    def sort_due(self) -> date:
        due = self.new_due or self.current_due
        assert due is not None  # a row exists on at least one side
        return due


@dataclass(frozen=True)
class WhatIf:
    key: str
    as_of: date
    published: date  # as the question treats it
    current_published: date
    anchored_on_receipt: bool  # the clock runs from receipt: publication moves nothing
    events: Mapping[str, date]  # the hypothetical actual dates asked about
    rows: tuple[WhatIfRow, ...]  # every milestone of either clock, by date

    @property
    def changed(self) -> tuple[WhatIfRow, ...]:
        return tuple(r for r in self.rows if r.changed)

    @property
    def unchanged(self) -> tuple[WhatIfRow, ...]:
        return tuple(r for r in self.rows if not r.changed)


def _effective(m: Milestone, record: MilestoneRecord | None) -> Milestone:
    """The milestone with an agreed extension applied, where it is later than the rules' date."""
    if record is not None and record.extended_to is not None and record.extended_to > m.due:
        return m._replace(due=record.extended_to)
    return m


def _status(
    m: Milestone,
    record: MilestoneRecord | None,
    as_of: date,
    calendar: WorkingDayCalendar,
    case_open: bool,
) -> MilestoneState:
    waived = bool(record is not None and record.waived)
    status = milestone_status(m, as_of, waived=waived, calendar=calendar)
    if not case_open and status not in ("met", "missed", "waived"):
        return "closed"
    return status


def _signed_working_days(calendar: WorkingDayCalendar, old: date, new: date) -> int:
    if new >= old:
        return calendar.working_days_between(old, new)
    return -calendar.working_days_between(new, old)


def what_if(
    session: Session,
    key: str,
    *,
    published: date | None,
    events: Mapping[str, date],
    as_of: date,
) -> WhatIf:
    """The case's clock now and with ``published`` and ``events`` changed, side by side.

    A :class:`RegisterError` names an unknown case, a milestone the case does not have, or a
    date the engine refuses (before the report, outside the framework's period...).
    """
    case = get_case(session, key)  # no lock: nothing is written
    calendar = calendar_for(session)
    builder = ClockBuilder(calendar=calendar)
    facts = case_facts(case)
    try:
        current = builder.compute(facts, case.rounding, strict_events=False)
    except FactsError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None
    known = {m.id for m in current.milestones}
    if len(events) > MAX_EVENTS:
        raise RegisterError("events", len(events), f"are too many (at most {MAX_EVENTS})")
    for milestone in events:
        if milestone not in known:
            raise RegisterError(
                "milestone", milestone, f"is not a milestone of case {key} (see its timeline)"
            )
    changed = replace(
        facts,
        published=published or facts.published,
        events={**facts.events, **events},
    )
    report_day = changed.received or changed.published
    for milestone, day in events.items():
        if day < report_day:
            raise RegisterError(
                f"event {milestone}",
                day.isoformat(),
                f"is before the report ({report_day.isoformat()})",
            )
    try:
        then = builder.compute(changed, case.rounding, strict_events=False)
    except FactsError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None

    records = {m.milestone_id: m for m in case.milestones}
    before = {m.id: _effective(m, records.get(m.id)) for m in current.milestones}
    after = {m.id: _effective(m, records.get(m.id)) for m in then.milestones}
    rows = []
    for mid in dict.fromkeys([*before, *after]):
        old, new = before.get(mid), after.get(mid)
        record = records.get(mid)
        some = new or old
        assert some is not None
        moved = (
            _signed_working_days(calendar, old.due, new.due)
            if old is not None and new is not None
            else None
        )
        rows.append(
            WhatIfRow(
                id=mid,
                title=some.title,
                party=some.party,
                current_due=old.due if old else None,
                new_due=new.due if new else None,
                current_actual=old.actual if old else None,
                new_actual=new.actual if new else None,
                moved_working_days=moved,
                status_now=_status(old, record, as_of, calendar, case.open) if old else None,
                status_then=_status(new, record, as_of, calendar, case.open) if new else None,
                extended_to=record.extended_to if record else None,
                waived=bool(record and record.waived),
            )
        )
    rows.sort(key=lambda r: (r.sort_due, r.id))
    return WhatIf(
        key=case.key,
        as_of=as_of,
        published=changed.published,
        current_published=facts.published,
        anchored_on_receipt=facts.received is not None,
        events=dict(events),
        rows=tuple(rows),
    )
