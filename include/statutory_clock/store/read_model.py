"""The register's read model: what the CLI, the board packs, the reminders and pages all show.

Two questions, answered as typed frozen objects:

- :func:`portfolio`: one row per case (open ones unless asked): its authority, latest judgement,
  state, next council deadline with the working days left, counts by status, action RAG
  counts, last reminder sent and last pack.
- :func:`case_view`: one case in full: its timeline (every milestone with forecast and effective
  due dates, window, actual date, status, whose act it is, owner, citation, basis, extension or
  waiver), actions, reminders sent, packs and audit trail.

A milestone's status is computed here, once, as of the day asked and with the register's own
calendar (:func:`~statutory_clock.store.reading.calendar_for`, the bundled snapshot with every
bank holiday added or removed since), never the bundled calendar alone: so the CLI, the DAGs and
the packs agree around an added bank holiday. Dates stay :class:`datetime.date` here; only
:func:`to_json` turns them into text, at the JSON boundary.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from statutory_clock import plausibility
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.engine import Party
from statutory_clock.rules import load_rulebooks
from statutory_clock.store.case_document import Lifecycle
from statutory_clock.store.models import (
    ActionItem,
    AuditEvent,
    BoardPack,
    Inspection,
    MilestoneRecord,
    ReminderLedger,
)
from statutory_clock.store.reading import (
    calendar_for,
    case_facts,
    get_case,
    lifecycle_of,
    party_of,
    persisted_status,
)
from statutory_clock.vocabulary import RAG_KEYS, CloseReason, MilestoneState, Rag, RagCounts

CaseState = Literal["open", "closed"]
# Statuses a milestone stops at: nothing more is expected of anyone.
FINISHED: frozenset[MilestoneState] = frozenset({"met", "missed", "waived", "closed"})
LONDON = ZoneInfo("Europe/London")
PACK_KIND = "board_pack"  # the ledger's reminder_kind for a pack email (outbox.queue_pack)


@dataclasses.dataclass(frozen=True)
class NextDeadline:
    """The next council milestone not yet done, due on or after the day asked."""

    id: str
    title: str
    due: date  # effective: after any agreed extension
    working_days_left: int  # working days in (as_of, due], on the register's calendar
    act_by: date  # the last working day on or before ``due`` (``due`` itself on a working day)


@dataclasses.dataclass(frozen=True)
class StatusCounts:
    """How many milestones stand at each status. ``not_recorded`` (an Ofsted or DfE act past
    its date with no date recorded) is never counted as ``overdue``."""

    overdue: int = 0
    due: int = 0
    not_recorded: int = 0
    upcoming: int = 0
    met: int = 0
    missed: int = 0
    waived: int = 0
    closed: int = 0

    @classmethod
    def of(cls, statuses: Iterable[MilestoneState]) -> StatusCounts:
        counted: Counter[str] = Counter(statuses)
        return cls(**counted)


@dataclasses.dataclass(frozen=True)
class PackSummary:
    period: str
    version: int
    made_on: date  # the day it was archived, in London
    meeting: date | None
    sha256: str


@dataclasses.dataclass(frozen=True)
class ReminderSent:
    item: str  # "milestone:<id>" or "action:<row>"
    kind: str  # the policy step: before_5, due_today, overdue_1, deadline_changed...
    due: date
    recipient: str
    sent_on: date  # in London


@dataclasses.dataclass(frozen=True)
class PortfolioRow:
    key: str
    authority: str
    dfe_code: str
    framework: str
    published: date
    judgement: str | None  # the overall judgement, or the worst area grade
    state: CaseState
    closed_reason: CloseReason | None
    closed_on: date | None
    superseded_by: str | None
    next_deadline: NextDeadline | None
    counts: StatusCounts
    rag: RagCounts
    last_reminder_sent: date | None
    last_pack: PackSummary | None


@dataclasses.dataclass(frozen=True)
class TimelineEntry:
    """One milestone as the register holds it, and where it stands on the day asked."""

    id: str
    title: str
    status: MilestoneState
    party: Party
    forecast_due: date  # as the rules compute it
    effective_due: date  # after any agreed extension
    window_start: date | None
    actual: date | None
    extended_to: date | None
    waived: bool
    adjustment_reason: str | None
    agreed_by: str | None
    owner: str | None
    rule: str
    source: str
    basis: str
    confidence: str
    kind: str
    due_version: int
    # The last working day on or before effective_due on the register's calendar: the day a
    # council acts by when its due date is a weekend or a bank holiday (effective_due otherwise).
    act_by: date


@dataclasses.dataclass(frozen=True)
class ProgressEntry:
    date: date | None
    note: str


@dataclasses.dataclass(frozen=True)
class ActionEntry:
    position: int
    recommendation: int | None
    required_outcome: str | None
    key_tasks: str | None
    lead_officer: str | None
    smt_lead: str | None
    target_date: date | None
    target_precision: str
    rag: Rag
    progress: tuple[ProgressEntry, ...]


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    on_behalf_of: str | None
    action: str
    entity: str
    field: str | None
    old: str | None
    new: str | None
    reason: str | None


@dataclasses.dataclass(frozen=True)
class CaseView:
    key: str
    version: int
    authority: str
    dfe_code: str
    framework: str
    title: str | None
    published: date
    published_precision: str
    received: date | None
    judgements: Mapping[str, str]
    judgement: str | None
    state: CaseState
    lifecycle: Lifecycle | None
    as_of: date
    next_deadline: NextDeadline | None
    counts: StatusCounts
    rag: RagCounts
    timeline: tuple[TimelineEntry, ...]
    actions: tuple[ActionEntry, ...]
    reminders: tuple[ReminderSent, ...]
    packs: tuple[PackSummary, ...]
    audit: tuple[AuditEntry, ...]
    # Unusual but possible facts (statutory_clock.plausibility), one line each: a person should
    # check them against the report.
    warnings: tuple[str, ...] = ()


# -- building blocks -----------------------------------------------------------------------------


def timeline(
    case: Inspection, as_of: date, calendar: WorkingDayCalendar
) -> tuple[TimelineEntry, ...]:
    """The case's milestones in due-date order, each with its status on ``as_of``."""
    return tuple(_entry(m, as_of, calendar, case.open) for m in case.milestones)


def _entry(
    m: MilestoneRecord, as_of: date, calendar: WorkingDayCalendar, case_open: bool
) -> TimelineEntry:
    return TimelineEntry(
        id=m.milestone_id,
        title=m.title,
        status=persisted_status(m, as_of, calendar, case_open=case_open),
        party=party_of(m),
        forecast_due=m.due,
        effective_due=m.effective_due,
        window_start=m.window_start,
        actual=m.actual,
        extended_to=m.extended_to,
        waived=m.waived,
        adjustment_reason=m.adjustment_reason,
        agreed_by=m.agreed_by,
        owner=m.owner,
        rule=m.rule,
        source=m.source,
        basis=m.basis,
        confidence=m.confidence,
        kind=m.kind,
        due_version=m.due_version,
        act_by=calendar.working_day_on_or_before(m.effective_due),
    )


class _Deadline(Protocol):
    """What :func:`next_deadline` reads of a timeline entry."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> MilestoneState: ...
    @property
    def party(self) -> Party: ...
    @property
    def effective_due(self) -> date: ...
    @property
    def kind(self) -> str: ...


class _PortfolioMilestone(NamedTuple):
    """A milestone as the portfolio reads it: only the columns its row needs."""

    inspection_id: int
    milestone_id: str
    title: str
    effective_due: date
    window_start: date | None
    kind: str
    actual: date | None
    party: str
    waived: bool


class _Due(NamedTuple):
    """A milestone's status on the day asked, for a portfolio row's counts and next deadline."""

    id: str
    title: str
    status: MilestoneState
    party: Party
    effective_due: date
    kind: str


def next_deadline(
    entries: Sequence[_Deadline],
    as_of: date,
    calendar: WorkingDayCalendar,
    kinds: Sequence[str] | None = None,
) -> NextDeadline | None:
    """The next council milestone not done and not yet past (an overdue one is counted, not
    named: the next deadline is the one still to meet), of the given ``kinds`` if any
    (statutory, regulatory, practice)."""
    ahead = sorted(
        (
            e
            for e in entries
            if e.party == "council"
            and e.status in ("upcoming", "due")
            and e.effective_due >= as_of
            and (kinds is None or e.kind in kinds)
        ),
        key=lambda e: (e.effective_due, e.id),
    )
    if not ahead:
        return None
    nxt = ahead[0]
    return NextDeadline(
        nxt.id,
        nxt.title,
        nxt.effective_due,
        calendar.working_days_between(as_of, nxt.effective_due),
        calendar.working_day_on_or_before(nxt.effective_due),
    )


def rag_of(action: ActionItem) -> Rag:
    return _rag(action.status)


def _rag(status: str | None) -> Rag:
    """An action's status as a RAG rating (no status, or one not known, is not rated)."""
    rating = status or "not_rated"
    return rating if rating in RAG_KEYS else "not_rated"


def latest_judgement(framework: str, judgements: Mapping[str, str]) -> str | None:
    """The overall judgement; without one (ILACS from April 2026), the worst area grade."""
    if judgements.get("overall"):
        return judgements["overall"]
    book = load_rulebooks().get(framework)
    scale = list(book.judgement_scale) if book else []
    graded = [g for g in judgements.values() if g in scale]
    return max(graded, key=scale.index) if graded else None


def _london_day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


class _PackColumns(Protocol):
    period_label: str
    version: int
    created_at: datetime
    meeting_date: date | None
    sha256: str


def _pack(row: BoardPack | _PackColumns) -> PackSummary:
    return PackSummary(
        row.period_label, row.version, _london_day(row.created_at), row.meeting_date, row.sha256
    )


# -- the two questions ---------------------------------------------------------------------------


def portfolio(
    session: Session,
    as_of: date,
    include_closed: bool = False,
    calendar: WorkingDayCalendar | None = None,
) -> list[PortfolioRow]:
    """Every open case (and the closed ones with ``include_closed``), by key."""
    calendar = calendar or calendar_for(session)
    # A portfolio is read on every page view: its 153 councils' action plans (some 9,000 rows)
    # are counted by the database, and the reminders and packs come as bare columns, never
    # as ORM objects, which cost far more to build than to query (see benchmarks/bench_ui.py).
    query = select(Inspection).options(selectinload(Inspection.local_authority))
    if not include_closed:
        query = query.where(Inspection.open.is_(True))
    cases = session.execute(query.order_by(Inspection.key)).scalars().all()
    ids = [c.id for c in cases]
    milestones: dict[int, list[_PortfolioMilestone]] = {}
    for found in session.execute(
        select(
            MilestoneRecord.inspection_id,
            MilestoneRecord.milestone_id,
            MilestoneRecord.title,
            func.coalesce(MilestoneRecord.extended_to, MilestoneRecord.due),
            MilestoneRecord.window_start,
            MilestoneRecord.kind,
            MilestoneRecord.actual,
            MilestoneRecord.party,
            MilestoneRecord.waived,
        ).where(MilestoneRecord.inspection_id.in_(ids))
    ):
        m = _PortfolioMilestone(*found)
        milestones.setdefault(m.inspection_id, []).append(m)
    ratings: dict[int, Counter[str]] = {}
    for case_id, status, count in session.execute(
        select(ActionItem.inspection_id, ActionItem.status, func.count())
        .where(ActionItem.inspection_id.in_(ids))
        .group_by(ActionItem.inspection_id, ActionItem.status)
    ):
        ratings.setdefault(case_id, Counter())[_rag(status)] += count
    last_sent: dict[int, datetime] = {
        case_id: sent_at
        for case_id, sent_at in session.execute(
            select(ReminderLedger.inspection_id, func.max(ReminderLedger.sent_at))
            .where(
                ReminderLedger.state == "sent",
                ReminderLedger.reminder_kind != PACK_KIND,
                ReminderLedger.inspection_id.in_(ids),
            )
            .group_by(ReminderLedger.inspection_id)
        )
        if sent_at is not None
    }
    last_pack: dict[int, PackSummary] = {}
    for pack in session.execute(
        select(
            BoardPack.inspection_id,
            BoardPack.period_label,
            BoardPack.version,
            BoardPack.created_at,
            BoardPack.meeting_date,
            BoardPack.sha256,
        )
        .where(BoardPack.inspection_id.in_(ids))
        .order_by(BoardPack.created_at, BoardPack.id)
    ):
        last_pack[pack.inspection_id] = _pack(pack)  # the latest wins
    rows = []
    for case in cases:
        entries = [
            _Due(
                m.milestone_id,
                m.title,
                persisted_status(m, as_of, calendar, case_open=case.open),
                party_of(m),
                m.effective_due,
                m.kind,
            )
            for m in milestones.get(case.id, ())
        ]
        closing = lifecycle_of(case)
        sent = last_sent.get(case.id)
        latest = last_pack.get(case.id)
        rows.append(
            PortfolioRow(
                key=case.key,
                authority=case.local_authority.name,
                dfe_code=case.local_authority.dfe_code,
                framework=case.framework,
                published=case.published,
                judgement=latest_judgement(case.framework, case.judgements or {}),
                state="open" if closing is None else "closed",
                closed_reason=closing.reason if closing else None,
                closed_on=closing.closed_on if closing else None,
                superseded_by=closing.superseded_by if closing else None,
                next_deadline=next_deadline(entries, as_of, calendar),
                counts=StatusCounts.of(e.status for e in entries),
                rag=RagCounts(**ratings.get(case.id, Counter())),
                last_reminder_sent=_london_day(sent) if sent else None,
                last_pack=latest,
            )
        )
    return rows


def case_view(
    session: Session, key: str, as_of: date, calendar: WorkingDayCalendar | None = None
) -> CaseView:
    """One case in full, as of ``as_of`` (a RegisterError names an unknown key)."""
    calendar = calendar or calendar_for(session)
    case = get_case(session, key)
    entries = timeline(case, as_of, calendar)
    closing = lifecycle_of(case)
    reminders = session.execute(
        select(ReminderLedger)
        .where(
            ReminderLedger.inspection_id == case.id,
            ReminderLedger.state == "sent",
            ReminderLedger.reminder_kind != PACK_KIND,
        )
        .order_by(ReminderLedger.sent_at, ReminderLedger.id)
    ).scalars()
    packs = session.execute(
        select(BoardPack)
        .where(BoardPack.inspection_id == case.id)
        .order_by(BoardPack.created_at, BoardPack.id)
    ).scalars()
    trail = session.execute(
        select(AuditEvent).where(AuditEvent.inspection_key == key).order_by(AuditEvent.id)
    ).scalars()
    return CaseView(
        key=case.key,
        version=case.version,
        authority=case.local_authority.name,
        dfe_code=case.local_authority.dfe_code,
        framework=case.framework,
        title=case.title,
        published=case.published,
        published_precision=case.published_precision,
        received=case.received,
        judgements=dict(case.judgements or {}),
        judgement=latest_judgement(case.framework, case.judgements or {}),
        state="open" if closing is None else "closed",
        lifecycle=closing,
        as_of=as_of,
        next_deadline=next_deadline(entries, as_of, calendar),
        counts=StatusCounts.of(e.status for e in entries),
        rag=RagCounts.of(rag_of(a) for a in case.actions),
        timeline=entries,
        actions=tuple(
            ActionEntry(
                position=a.position,
                recommendation=a.recommendation,
                required_outcome=a.required_outcome,
                key_tasks=a.key_tasks,
                lead_officer=a.lead_officer,
                smt_lead=a.smt_lead,
                target_date=a.target_date,
                target_precision=a.target_precision,
                rag=rag_of(a),
                progress=tuple(ProgressEntry(p.date, p.note) for p in a.progress),
            )
            for a in case.actions
        ),
        reminders=tuple(
            ReminderSent(r.item, r.reminder_kind, r.due, r.recipient, _london_day(r.sent_at))
            for r in reminders
            if r.sent_at is not None
        ),
        packs=tuple(_pack(p) for p in packs),
        audit=tuple(
            AuditEntry(
                r.at, r.actor, r.on_behalf_of, r.action, r.entity, r.field, r.old, r.new, r.reason
            )
            for r in trail
        ),
        warnings=case_warnings(case, calendar),
    )


def case_warnings(case: Inspection, calendar: WorkingDayCalendar) -> tuple[str, ...]:
    """The stored case's unusual facts (statutory_clock.plausibility): a publication known only
    to its month is not warned about for its day of the week."""
    month_only = {"published"} if case.published_precision == "month" else set()
    return plausibility.warnings(case_facts(case), calendar, month_only=month_only)


# -- the JSON boundary ---------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A read-model object as JSON data: dates and instants as ISO text, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def portfolio_json(rows: Iterable[PortfolioRow]) -> list[Any]:
    """The portfolio as ``statclock case list --format json`` and ``/statclock/api/portfolio``
    give it: one object per row, every field of :class:`PortfolioRow`."""
    return [to_json(row) for row in rows]


def case_json(view: CaseView) -> dict[str, Any]:
    """A case as ``statclock case show KEY --format json`` and ``/statclock/api/councils/KEY``
    give it: the read model's fields, a milestone's forecast due date named ``due``."""
    return {
        "key": view.key,
        "version": view.version,
        "authority": view.authority,
        "dfe_code": view.dfe_code,
        "framework": view.framework,
        "published": view.published.isoformat(),
        "state": view.state,
        "lifecycle": to_json(view.lifecycle),
        "as_of": view.as_of.isoformat(),
        "next_deadline": to_json(view.next_deadline),
        "counts": to_json(view.counts),
        "milestones": [
            {
                "id": m.id,
                "title": m.title,
                "due": m.forecast_due.isoformat(),
                "effective_due": m.effective_due.isoformat(),
                "act_by": m.act_by.isoformat(),
                "window_start": m.window_start.isoformat() if m.window_start else None,
                "actual": m.actual.isoformat() if m.actual else None,
                "extended_to": m.extended_to.isoformat() if m.extended_to else None,
                "waived": m.waived,
                "status": m.status,
                "status_as_of": view.as_of.isoformat(),
                "party": m.party,
                "rule": m.rule,
                "source": m.source,
                "basis": m.basis,
                "owner": m.owner,
                "due_version": m.due_version,
            }
            for m in view.timeline
        ],
        "warnings": list(view.warnings),
    }
