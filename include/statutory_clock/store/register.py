"""The case register's write API: every change audited, every write one transaction.

Each function here runs inside a caller's transaction (see :func:`statutory_clock.store.db.
transaction`) and, for changes to a case, first locks the case row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's writers are serialised by ``BEGIN IMMEDIATE``) and bumps its version, so two
people recording facts at once never lose each other's update. Recording a fact recomputes the
case's milestones in the same transaction and audits every date that moves.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, selectinload

from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.engine import (
    CaseFacts,
    ClockBuilder,
    FactsError,
    Milestone,
    Recommendation,
    milestone_status,
)
from statutory_clock.store.audit_chain import FIELDS, GENESIS, PG_LOCK_KEY, row_hash
from statutory_clock.store.casefile import day_of, precision_of
from statutory_clock.store.models import (
    ActionItem,
    AuditEvent,
    BoardMeeting,
    CalendarChange,
    CaseEvent,
    Contact,
    ImprovementBoard,
    Inspection,
    Intervention,
    LocalAuthority,
    MilestoneRecord,
    ProgressNote,
)
from statutory_clock.store.models import Recommendation as RecommendationRow

RAG = ("red", "amber", "green", "complete")


class RegisterError(ValueError):
    """A request the register refuses; ``field`` and ``value`` name what is wrong."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field}: {value!r} {problem}")


class ConflictError(RegisterError):
    """The case changed since the caller read it (optimistic concurrency)."""


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


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the authenticated identity (the Airflow user; the OS login for the
    CLI), and whom they say they act for (the CLI's ``--by``), recorded beside it."""

    user: str
    on_behalf_of: str | None = None

    def __str__(self) -> str:
        return f"{self.user} (for {self.on_behalf_of})" if self.on_behalf_of else self.user

    @property
    def label(self) -> str:
        """A name for a 200-character column (an event's ``recorded_by``): both names when
        they fit, else the authenticated one, which is never dropped."""
        whole = str(self)
        return whole if len(whole) <= 200 else self.user[:200]


def _as_actor(actor: str | Actor) -> Actor:
    return actor if isinstance(actor, Actor) else Actor(actor)


def lock_for_writing(session: Session) -> None:
    """Become the register's one writer until this transaction ends.

    SQLite's ``BEGIN IMMEDIATE`` already serialises writers. On PostgreSQL a transaction-scoped
    advisory lock does it: the audit trail is one hash chain, so its rows must be appended one
    transaction at a time. Writers take it before any row lock, so two of them never wait on
    each other in opposite orders. Taking it twice in one transaction is harmless.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def _chain_head(session: Session) -> tuple[int, str]:
    """The last audit row's (id, hash) for this transaction, read once under the writer lock."""
    transaction = session.get_transaction()
    cached = session.info.get("statclock_audit_head")
    if cached is not None and cached[0] is transaction:
        head: tuple[int, str] = cached[1]
        return head
    lock_for_writing(session)
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last is not None else (0, GENESIS)


def audit(
    session: Session,
    actor: str | Actor,
    action: str,
    key: str | None,
    entity: str,
    field: str | None = None,
    old: object = None,
    new: object = None,
    reason: str | None = None,
) -> None:
    """Append one row to the audit trail, sealed into the hash chain."""
    who = _as_actor(actor)
    head_id, head_hash = _chain_head(session)
    row = AuditEvent(
        id=head_id + 1,
        at=_now(),
        actor=who.user,
        on_behalf_of=who.on_behalf_of,
        action=action,
        inspection_key=key,
        entity=entity,
        field=field,
        old=_text(old),
        new=_text(new),
        reason=reason,
        prev_hash=head_hash,
    )
    row.hash = row_hash(head_hash, {name: getattr(row, name) for name in FIELDS})
    session.add(row)
    session.info["statclock_audit_head"] = (session.get_transaction(), (row.id, row.hash))


# -- reading -----------------------------------------------------------------------------------


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
    )


def persisted_status(
    m: MilestoneRecord, as_of: date, calendar: WorkingDayCalendar | None = None
) -> str:
    """A persisted milestone's status on ``as_of``, after any extension or waiver."""
    probe = Milestone(
        m.milestone_id,
        m.title,
        m.effective_due,
        m.window_start,
        m.rule,
        m.source,
        m.basis,
        m.confidence,
        m.kind,
        m.actual,
    )
    return milestone_status(probe, as_of, waived=m.waived, calendar=calendar)


# -- recomputation -------------------------------------------------------------------------


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
) -> RecomputeResult:
    """Bring the persisted milestones in line with the facts, auditing every difference.

    A milestone whose due date moves gets ``due_version + 1`` (fresh reminders, and one
    "deadline changed" notice). Statuses are as of ``as_of``, never the wall clock.
    """
    builder = builder or ClockBuilder(calendar=calendar_for(session))
    try:
        clock = builder.compute(facts or case_facts(case), case.rounding, strict_events=False)
    except FactsError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None
    result = RecomputeResult(case.key)
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
                reason or m.basis,
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
                    reason or m.basis,
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
                            reason,
                        )
                    setattr(row, name, getattr(m, name))
        # The row now carries the engine's dates, so its status is the persisted one.
        status = persisted_status(row, as_of, builder.calendar)
        if row.status != status or row.status_as_of is None:
            if m.id not in result.added and row.status != status:
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
                reason or "no longer follows from the facts",
            )
            case.milestones.remove(row)
            session.delete(row)
    return result


def _touch(case: Inspection, expected_version: int | None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise ConflictError(
            "version",
            expected_version,
            f"is stale: case {case.key} is now at version {case.version}; re-read it and try again",
        )
    case.version += 1
    case.updated_at = _now()


# -- import and export -----------------------------------------------------------------------


def import_case(
    session: Session,
    doc: Mapping[str, Any],
    actor: str | Actor,
    as_of: date,
    *,
    replace: bool = False,
) -> Inspection:
    """Create (or with ``replace``, overwrite) a case from a validated case-file document."""
    key = doc["key"]
    # One writer at a time: two imports of the same new council or case then follow each other
    # (the second sees the first's rows) instead of failing on the unique keys.
    lock_for_writing(session)
    existing = session.execute(
        select(Inspection.id).where(Inspection.key == key).with_for_update()
    ).scalar_one_or_none()
    if existing is not None and not replace:
        raise RegisterError("key", key, "is already in the register (use --replace to overwrite)")
    la_doc = doc["local_authority"]
    la = session.execute(
        select(LocalAuthority).where(LocalAuthority.dfe_code == la_doc["dfe_code"])
    ).scalar_one_or_none()
    if la is None:
        la = LocalAuthority(name=la_doc["name"], dfe_code=la_doc["dfe_code"])
        session.add(la)
        audit(
            session,
            actor,
            "authority added",
            key,
            f"authority {la_doc['dfe_code']}",
            "name",
            None,
            la_doc["name"],
        )
    elif la.name != la_doc["name"]:
        audit(
            session,
            actor,
            "authority renamed",
            key,
            f"authority {la.dfe_code}",
            "name",
            la.name,
            la_doc["name"],
        )
        la.name = la_doc["name"]

    ins = doc["inspection"]
    if existing is not None:
        case = get_case(session, key)
        _touch(case, None)
        audit(
            session,
            actor,
            "case replaced",
            key,
            f"case {key}",
            None,
            None,
            None,
            "imported again from a case file",
        )
    else:
        now = _now()
        case = Inspection(
            key=key,
            local_authority=la,
            version=1,
            created_at=now,
            updated_at=now,
            framework=ins["framework"],
            published=day_of(ins["published"]),
        )
        session.add(case)
        audit(
            session,
            actor,
            "case created",
            key,
            f"case {key}",
            None,
            None,
            None,
            "imported from a case file",
        )
    scalar_fields = {
        "framework": ins["framework"],
        "title": ins["title"],
        "notified": ins["notified"],
        "fieldwork_start": ins["fieldwork_start"],
        "fieldwork_end": ins["fieldwork_end"],
        "published": day_of(ins["published"]),
        "published_precision": precision_of(ins["published"]),
        "received": ins["received"],
        "judgements": ins["judgements"],
        "lscb_review": ins["lscb_review"],
        "rounding": ins["rounding"],
        "sources": doc["sources"],
        "notes": doc["notes"],
        "local_authority": la,
    }
    for name, value in scalar_fields.items():
        old = getattr(case, name, None)
        if existing is not None and old != value and name != "local_authority":
            audit(session, actor, "case field changed", key, f"case {key}", name, old, value)
        setattr(case, name, value)

    # Replacing children: delete the old rows before inserting the new ones (the unit of work
    # would otherwise insert first and trip the unique keys).
    case.recommendations, case.actions, case.events = [], [], []
    case.intervention, case.board = None, None
    session.flush()
    case.recommendations = [
        RecommendationRow(
            number=r["number"], text=r["text"], timescale=r["timescale"], theme=r["theme"]
        )
        for r in ins["recommendations"]
    ]
    case.actions = [
        ActionItem(
            position=i,
            recommendation=a["recommendation"],
            current_strategy=a["current_strategy"],
            required_outcome=a["required_outcome"],
            lead_officer=a["lead_officer"],
            key_tasks=a["key_tasks"],
            target_date=day_of(a["target_date"]) if a["target_date"] is not None else None,
            target_precision=precision_of(a["target_date"]),
            status=a["status"],
            smt_lead=a["smt_lead"],
            progress=[
                ProgressNote(position=j, date=p["date"], note=p["note"])
                for j, p in enumerate(a["progress"], start=1)
            ],
        )
        for i, a in enumerate(ins["action_plan"], start=1)
    ]
    events = [("actual", e) for e in ins["events"]] + [("planned", e) for e in ins["planned"]]
    case.events = [
        CaseEvent(
            position=i,
            kind=kind,
            milestone=e["milestone"],
            date=day_of({"month": e["month"]}) if "month" in e else e["date"],
            precision="month" if "month" in e else "day",
            note=e["note"],
            recorded_by=e.get("recorded_by"),
        )
        for i, (kind, e) in enumerate(events, start=1)
    ]
    iv = doc["intervention"]
    case.intervention = None if iv is None else Intervention(**iv)
    board = doc["board"]
    case.board = (
        None
        if board is None
        else ImprovementBoard(
            name=board["name"],
            chair=board["chair"],
            cadence=board["cadence"],
            cadence_changes=_jsonable(board["cadence_changes"]),
            other_reporting=board["other_reporting"],
            distribution=board["distribution"],
            meetings=[
                BoardMeeting(position=i, date=day_of(m), precision=precision_of(m))
                for i, m in enumerate(board["meetings"], start=1)
            ],
        )
    )
    _merge_contacts(session, case, doc["contacts"], actor, key)
    session.flush()
    owners = ins["milestone_owners"]
    recompute(session, case, as_of, actor, owners=owners, reason="case imported")
    by_id = {m.milestone_id: m for m in case.milestones}
    for m in case.milestones:
        owner = owners.get(m.milestone_id) or owners.get(m.rule.split(".", 1)[-1])
        if owner:
            m.owner = owner
    for adj in ins["adjustments"]:
        row = by_id.get(adj["milestone"])
        if row is None:
            raise RegisterError(
                f"adjustments {adj['milestone']}",
                adj["milestone"],
                "names no milestone of this case's clock",
            )
        row.extended_to, row.waived = adj["extended_to"], adj["waived"]
        row.adjustment_reason, row.agreed_by = adj["reason"], adj["agreed_by"]
    if ins["adjustments"]:
        recompute(session, case, as_of, actor, reason="adjustments imported")
    session.flush()
    return case


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"date"}:
            return date.fromisoformat(value["date"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


def _merge_contacts(
    session: Session,
    case: Inspection,
    contacts: Sequence[Mapping[str, Any]],
    actor: str | Actor,
    key: str,
) -> None:
    """Add, update and remove the case's contacts to match the file, auditing each change."""
    wanted = [c["name"] for c in contacts]
    for gone in [row for row in case.contacts if row.name not in wanted]:
        audit(session, actor, "contact removed", key, f"contact {gone.name}", "role", gone.role)
        case.contacts.remove(gone)
    by_name = {c.name: c for c in case.contacts}
    for c in contacts:
        row = by_name.get(c["name"])
        values = {
            "role": c["role"],
            "email": c["email"],
            "phone": c["phone"],
            "escalation_contact": c["escalation_to"],
        }
        if row is None:
            row = Contact(name=c["name"], position=0, **values)
            case.contacts.append(row)
            by_name[c["name"]] = row
            audit(
                session,
                actor,
                "contact added",
                key,
                f"contact {c['name']}",
                "role",
                None,
                c["role"],
            )
        else:
            for name, value in values.items():
                if getattr(row, name) != value:
                    audit(
                        session,
                        actor,
                        "contact changed",
                        key,
                        f"contact {c['name']}",
                        name,
                        getattr(row, name),
                        value,
                    )
                    setattr(row, name, value)
        row.position = wanted.index(c["name"]) + 1
    case.contacts.sort(key=lambda row: row.position)


def _month_or_day(value: date | None, precision: str) -> Any:
    if value is None:
        return None
    return {"month": f"{value.year:04d}-{value.month:02d}"} if precision == "month" else value


def export_case(case: Inspection) -> dict[str, Any]:
    """The case as a canonical case-file document (see casefile.normalise)."""
    la = case.local_authority
    events: dict[str, list[dict[str, Any]]] = {"actual": [], "planned": []}
    for e in case.events:
        item: dict[str, Any] = {"milestone": e.milestone}
        if e.precision == "month" and e.date is not None:
            item["month"] = f"{e.date.year:04d}-{e.date.month:02d}"
        else:
            item["date"] = e.date
        item["note"] = e.note
        if e.recorded_by:
            item["recorded_by"] = e.recorded_by
        events[e.kind].append(item)
    owners = {m.milestone_id: m.owner for m in case.milestones if m.owner}
    board = case.board
    doc: dict[str, Any] = {
        "schema_version": 1,
        "key": case.key,
        "local_authority": {"name": la.name, "dfe_code": la.dfe_code},
        "contacts": [
            {
                "name": c.name,
                "role": c.role,
                "email": c.email,
                "phone": c.phone,
                "escalation_to": c.escalation_contact,
            }
            for c in case.contacts
        ],
        "inspection": {
            "framework": case.framework,
            "title": case.title,
            "notified": case.notified,
            "fieldwork_start": case.fieldwork_start,
            "fieldwork_end": case.fieldwork_end,
            "published": _month_or_day(case.published, case.published_precision),
            "received": case.received,
            "judgements": dict(case.judgements),
            "lscb_review": case.lscb_review,
            "rounding": case.rounding,
            "recommendations": [
                {"number": r.number, "text": r.text, "timescale": r.timescale, "theme": r.theme}
                for r in case.recommendations
            ],
            "action_plan": [
                {
                    "recommendation": a.recommendation,
                    "current_strategy": a.current_strategy,
                    "required_outcome": a.required_outcome,
                    "lead_officer": a.lead_officer,
                    "key_tasks": a.key_tasks,
                    "progress": [{"date": p.date, "note": p.note} for p in a.progress],
                    "target_date": _month_or_day(a.target_date, a.target_precision),
                    "status": a.status,
                    "smt_lead": a.smt_lead,
                }
                for a in case.actions
            ],
            "events": events["actual"],
            "planned": events["planned"],
            "milestone_owners": _compact_owners(case, owners),
            "adjustments": [
                {
                    "milestone": m.milestone_id,
                    "extended_to": m.extended_to,
                    "waived": m.waived,
                    "reason": m.adjustment_reason,
                    "agreed_by": m.agreed_by,
                }
                for m in sorted(case.milestones, key=lambda m: m.milestone_id)
                if m.adjustment_reason
            ],
        },
        "intervention": None
        if case.intervention is None
        else {
            "direction": case.intervention.direction,
            "commissioner": case.intervention.commissioner,
            "independent_chair": case.intervention.independent_chair,
            "adviser": case.intervention.adviser,
            "reviews": case.intervention.reviews,
            "notes": case.intervention.notes,
        },
        "board": None
        if board is None
        else {
            "name": board.name,
            "chair": board.chair,
            "cadence": board.cadence,
            "cadence_changes": _from_jsonable(board.cadence_changes),
            "meetings": [_month_or_day(m.date, m.precision) for m in board.meetings],
            "other_reporting": list(board.other_reporting),
            "distribution": list(board.distribution),
        },
        "sources": list(case.sources),
        "notes": case.notes,
    }
    return doc


def _compact_owners(case: Inspection, owners: Mapping[str, str]) -> dict[str, str]:
    """Owners as given: by rule id where every milestone of that rule has the same owner."""
    by_rule: dict[str, set[str | None]] = {}
    for m in case.milestones:
        by_rule.setdefault(m.rule.split(".", 1)[-1], set()).add(m.owner)
    compact: dict[str, str] = {}
    for m in sorted(case.milestones, key=lambda m: (m.due, m.milestone_id)):
        if not m.owner:
            continue
        rule_id = m.rule.split(".", 1)[-1]
        rule_owners = by_rule[rule_id]
        if rule_id != m.milestone_id and rule_owners == {m.owner}:
            compact.setdefault(rule_id, m.owner)
        else:
            compact[m.milestone_id] = m.owner
    return compact


# -- recording facts ---------------------------------------------------------------------------


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
    _touch(case, expected_version)
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
        previous.recorded_by = _as_actor(actor).label
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
                recorded_by=_as_actor(actor).label,
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
    _touch(case, expected_version)
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
    _touch(case, expected_version)
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
                _touch(case, None)
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
