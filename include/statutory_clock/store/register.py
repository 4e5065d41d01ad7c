"""The case register's write API: every change audited, every write one transaction.

Each function here runs inside a caller's transaction (see :func:`statutory_clock.store.db.
transaction`) and, for changes to a case, first locks the case row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's writers are serialised by ``BEGIN IMMEDIATE``) and bumps its version, so two
people recording facts at once never lose each other's update. Recording a fact recomputes the
case's milestones in the same transaction and audits every date that moves.
"""

from __future__ import annotations

import gc
import json
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified

from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.engine import (
    CaseFacts,
    ClockBuilder,
    FactsError,
    Milestone,
    Recommendation,
    milestone_status,
)
from statutory_clock.inputs import InputError, Text
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

REMOVED_FROM_FILE = "removed from the case file"


@dataclass(frozen=True)
class _Change:
    """One difference an import makes, audited as the register's own command would audit it."""

    action: str
    entity: str
    field: str | None
    old: object = None
    new: object = None
    reason: str | None = None


@dataclass(frozen=True)
class _Adjustment:
    """An extension and/or waiver of one milestone, as the case file states it."""

    extended_to: date | None = None
    waived: bool = False
    reason: str | None = None
    agreed_by: str | None = None


_NO_ADJUSTMENT = _Adjustment()


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a case file")


def _canon(value: object) -> str:
    """A value as the case file writes it: key order and types count, unlike ``==`` on dicts."""
    return json.dumps(value, ensure_ascii=False, default=_iso)


def _same(a: object, b: object) -> bool:
    return _canon(a) == _canon(b)


def _shown(value: object) -> object:
    """An audit value: a month as YYYY-MM, lists and mappings as JSON in the file's key order,
    anything else as it is (``audit`` writes dates as YYYY-MM-DD)."""
    if isinstance(value, Mapping) and set(value) == {"month"}:
        return str(value["month"])
    if isinstance(value, (Mapping, list)):
        return _canon(value)
    return value


def _list_changes(
    action: str, entity: str, field: str, old: Sequence[Any], new: Sequence[Any]
) -> list[_Change]:
    """A list's differences: one row per item removed or added, and one if only the order of
    the items both lists share changed."""
    old_keys, new_keys = [_canon(v) for v in old], [_canon(v) for v in new]
    removed, added = Counter(old_keys) - Counter(new_keys), Counter(new_keys) - Counter(old_keys)
    changes: list[_Change] = []
    kept_old, kept_new = [], []
    for value, k in zip(old, old_keys, strict=True):
        if removed[k]:
            removed[k] -= 1
            changes.append(_Change(action, entity, field, _shown(value), None, REMOVED_FROM_FILE))
        else:
            kept_old.append(k)
    for value, k in zip(new, new_keys, strict=True):
        if added[k]:
            added[k] -= 1
            changes.append(_Change(action, entity, field, None, _shown(value)))
        else:
            kept_new.append(k)
    if kept_old != kept_new:
        changes.append(
            _Change(action, entity, field, _canon(list(old)), _canon(list(new)), "reordered")
        )
    return changes


def _authority_for(
    session: Session, la_doc: Mapping[str, str], actor: str | Actor, key: str
) -> LocalAuthority:
    """The register's authority for the file's DfE code, added if new.

    An authority is shared by all its cases, so a file cannot rename it: that would change
    every other case of the council, audited under this one only. A rename is its own command.
    """
    code, name = la_doc["dfe_code"], la_doc["name"]
    la = session.execute(
        select(LocalAuthority).where(LocalAuthority.dfe_code == code)
    ).scalar_one_or_none()
    if la is None:
        la = LocalAuthority(name=name, dfe_code=code)
        session.add(la)
        audit(session, actor, "authority added", key, f"authority {code}", "name", None, name)
    elif la.name != name:
        raise RegisterError(
            "local_authority.name",
            name,
            f"differs from the register's name for DfE code {code} ({la.name!r}); rename it "
            f"with `statclock authority rename {code} {shlex.quote(name)}` first",
        )
    return la


def import_case(
    session: Session,
    doc: Mapping[str, Any],
    actor: str | Actor,
    as_of: date,
    *,
    replace: bool = False,
) -> Inspection:
    """Create (or with ``replace``, bring up to date) a case from a validated case-file document.

    A replacement is audited difference by difference, each row as the register's own command
    for that change writes it ("waiver granted", "progress noted", "event corrected"...), with
    removals too ("waiver withdrawn", "removed from the case file"), after one "case replaced"
    row. A file that changes nothing writes nothing at all: no audit row, no new version, no
    recompute (the daily recompute keeps statuses current), so re-importing the same files is
    harmless and the audit trail holds only real changes. A new case is audited as created
    from its file, with its authority, contacts, milestones, extensions and waivers one by one
    (field by field would be tens of thousands of rows for a portfolio, each saying only "as
    in the file").
    """
    key = doc["key"]
    # One writer at a time: two imports of the same new council or case then follow each other
    # (the second sees the first's rows) instead of failing on the unique keys.
    lock_for_writing(session)
    existing = session.execute(
        select(Inspection.id).where(Inspection.key == key).with_for_update()
    ).scalar_one_or_none()
    if existing is not None and not replace:
        raise RegisterError("key", key, "is already in the register (use --replace to overwrite)")
    la = _authority_for(session, doc["local_authority"], actor, key)
    ins = doc["inspection"]
    if existing is None:
        now = _now()
        case = Inspection(
            key=key,
            local_authority=la,
            version=1,
            created_at=now,
            updated_at=now,
            framework=ins["framework"],
            published=day_of(ins["published"]),
            judgements={},
            sources=[],
        )
        session.add(case)
    else:
        case = get_case(session, key)
    owners = ins["milestone_owners"]
    changes = _apply_case_file(case, doc, la)
    changes += _apply_owners(case, owners)
    adjustments = _wanted_adjustments(ins["adjustments"])
    adjusted = sorted(
        {m.milestone_id for m in case.milestones if _adjustment_of(m) != _NO_ADJUSTMENT}
        | set(adjustments)
    )
    adjusted = [
        mid
        for mid in adjusted
        if _adjustment_of_id(case, mid) != adjustments.get(mid, _NO_ADJUSTMENT)
    ]
    if existing is None:
        audit(
            session, actor, "case created", key, f"case {key}", reason="imported from a case file"
        )
        for change in changes:
            if change.action == "contact added":
                _audit_change(session, actor, key, change)
    elif changes or adjusted:
        _touch(case, None)
        audit(
            session,
            actor,
            "case replaced",
            key,
            f"case {key}",
            reason="imported again from a case file",
        )
        for change in changes:
            _audit_change(session, actor, key, change)
    else:
        return case  # the file is the case as it stands
    session.flush()
    recompute(session, case, as_of, actor, owners=owners, reason="case imported")
    by_id = {m.milestone_id: m for m in case.milestones}
    for mid in adjustments:
        if mid not in by_id:
            raise RegisterError(
                "inspection.adjustments.milestone", mid, "names no milestone of this case's clock"
            )
    for mid in adjusted:
        row = by_id.get(mid)
        if row is not None:  # else an adjusted milestone the new facts no longer produce
            for change in _adjust(row, adjustments.get(mid, _NO_ADJUSTMENT)):
                _audit_change(session, actor, key, change)
    if adjusted:
        session.flush()
        recompute(session, case, as_of, actor, reason="adjustments imported")
    session.flush()
    return case


def _audit_change(session: Session, actor: str | Actor, key: str, change: _Change) -> None:
    audit(
        session,
        actor,
        change.action,
        key,
        change.entity,
        change.field,
        change.old,
        change.new,
        change.reason,
    )


def _apply_case_file(case: Inspection, doc: Mapping[str, Any], la: LocalAuthority) -> list[_Change]:
    """Make the case's own rows say what the file says; return every difference, in file order.

    Rows that do not change are not touched (a file that changes nothing writes nothing), and
    rows are updated in place rather than deleted and inserted again.
    """
    changes: list[_Change] = []
    key = case.key
    if case.local_authority is not la:
        old = case.local_authority
        changes.append(
            _Change(
                "case field changed",
                f"case {key}",
                "local_authority",
                f"{old.dfe_code} {old.name}" if old is not None else None,
                f"{la.dfe_code} {la.name}",
            )
        )
        case.local_authority = la
    _apply_contacts(case, doc["contacts"], changes)
    ins = doc["inspection"]
    current = _case_fields(case)
    for name, value in ins.items():
        if name in current and not _same(current[name], value):
            changes.append(
                _Change(
                    "case field changed",
                    f"case {key}",
                    name,
                    _shown(current[name]),
                    _shown(value),
                )
            )
            if name == "published":
                case.published, case.published_precision = day_of(value), precision_of(value)
            elif name == "judgements":
                case.judgements = dict(value)
                flag_modified(case, "judgements")  # a new key order is a change too
            else:
                setattr(case, name, value)
    _apply_recommendations(case, ins["recommendations"], changes)
    _apply_actions(case, ins["action_plan"], changes)
    _apply_events(case, ins["events"], ins["planned"], changes)
    _apply_intervention(case, doc["intervention"], changes)
    _apply_board(case, doc["board"], changes)
    if not _same(list(case.sources or []), doc["sources"]):
        changes += _list_changes(
            "case field changed", f"case {key}", "sources", case.sources or [], doc["sources"]
        )
        case.sources = [dict(s) for s in doc["sources"]]
        flag_modified(case, "sources")
    if case.notes != doc["notes"]:
        changes.append(
            _Change("case field changed", f"case {key}", "notes", case.notes, doc["notes"])
        )
        case.notes = doc["notes"]
    return changes


def _case_fields(case: Inspection) -> dict[str, Any]:
    """The inspection's own fields as the case file writes them."""
    return {
        "framework": case.framework,
        "title": case.title,
        "notified": case.notified,
        "fieldwork_start": case.fieldwork_start,
        "fieldwork_end": case.fieldwork_end,
        "published": _month_or_day(case.published, case.published_precision),
        "received": case.received,
        "judgements": dict(case.judgements or {}),
        "lscb_review": case.lscb_review,
        "rounding": case.rounding,
    }


_CONTACT_FIELDS = {
    "role": "role",
    "email": "email",
    "phone": "phone",
    "escalation_to": "escalation_contact",
}


def _contact_doc(c: Contact) -> dict[str, Any]:
    return {"name": c.name, **{f: getattr(c, attr) for f, attr in _CONTACT_FIELDS.items()}}


def _apply_contacts(
    case: Inspection, contacts: Sequence[Mapping[str, Any]], changes: list[_Change]
) -> None:
    """Contacts are matched by name (unique within a case)."""
    wanted = [c["name"] for c in contacts]
    for i, name in enumerate(wanted):
        if name in wanted[:i]:
            raise RegisterError("contacts.name", name, "appears twice")
    for gone in [row for row in case.contacts if row.name not in wanted]:
        changes.append(
            _Change(
                "contact removed",
                f"contact {gone.name}",
                "role",
                gone.role,
                None,
                REMOVED_FROM_FILE,
            )
        )
        case.contacts.remove(gone)
    by_name = {c.name: c for c in case.contacts}
    kept = [c.name for c in case.contacts]
    for c in contacts:
        row = by_name.get(c["name"])
        if row is None:
            row = Contact(name=c["name"], position=0)
            for f, attr in _CONTACT_FIELDS.items():
                setattr(row, attr, c[f])
            case.contacts.append(row)
            changes.append(
                _Change("contact added", f"contact {c['name']}", "role", None, c["role"])
            )
            continue
        for f, attr in _CONTACT_FIELDS.items():
            if getattr(row, attr) != c[f]:
                changes.append(
                    _Change("contact changed", f"contact {c['name']}", f, getattr(row, attr), c[f])
                )
                setattr(row, attr, c[f])
    if kept != [name for name in wanted if name in kept]:
        changes.append(
            _Change(
                "contacts reordered", f"case {case.key}", "contacts", _canon(kept), _canon(wanted)
            )
        )
    for row in case.contacts:
        position = wanted.index(row.name) + 1
        if row.position != position:
            row.position = position
    case.contacts.sort(key=lambda row: row.position)


def _recommendation_doc(r: RecommendationRow) -> dict[str, Any]:
    return {"number": r.number, "text": r.text, "timescale": r.timescale, "theme": r.theme}


def _apply_recommendations(
    case: Inspection, recommendations: Sequence[Mapping[str, Any]], changes: list[_Change]
) -> None:
    """Recommendations are matched by number (the casefile checks that each is unique)."""
    wanted = {r["number"]: r for r in recommendations}
    for gone in [r for r in case.recommendations if r.number not in wanted]:
        changes.append(
            _Change(
                "recommendation removed",
                f"recommendation {gone.number}",
                None,
                _canon(_recommendation_doc(gone)),
                None,
                REMOVED_FROM_FILE,
            )
        )
        case.recommendations.remove(gone)
    rows = {r.number: r for r in case.recommendations}
    for number, r in sorted(wanted.items()):
        row = rows.get(number)
        if row is None:
            case.recommendations.append(
                RecommendationRow(
                    number=number, text=r["text"], timescale=r["timescale"], theme=r["theme"]
                )
            )
            changes.append(
                _Change(
                    "recommendation added", f"recommendation {number}", None, None, _canon(dict(r))
                )
            )
            continue
        for name in ("text", "timescale", "theme"):
            if getattr(row, name) != r[name]:
                changes.append(
                    _Change(
                        "recommendation changed",
                        f"recommendation {number}",
                        name,
                        getattr(row, name),
                        r[name],
                    )
                )
                setattr(row, name, r[name])
    case.recommendations.sort(key=lambda r: r.number)


_ACTION_FIELDS = (
    "recommendation",
    "current_strategy",
    "required_outcome",
    "lead_officer",
    "key_tasks",
    "target_date",
    "status",
    "smt_lead",
)


def _action_doc(a: ActionItem) -> dict[str, Any]:
    return {
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


def _progress_text(p: Mapping[str, Any]) -> str:
    """A progress note as ``update_action`` audits it: "YYYY-MM-DD: note"."""
    day = p["date"]
    return f"{day.isoformat()}: {p['note']}" if day is not None else str(p["note"])


def _set_action_field(row: ActionItem, name: str, value: Any) -> None:
    if name == "target_date":
        row.target_date = day_of(value) if value is not None else None
        row.target_precision = precision_of(value)
    else:
        setattr(row, name, value)


def _apply_actions(
    case: Inspection, plan: Sequence[Mapping[str, Any]], changes: list[_Change]
) -> None:
    """Actions are matched by row number, as ``statclock action update`` names them."""
    rows = list(case.actions)
    for position, a in enumerate(plan, start=1):
        entity = f"action {position}"
        if position > len(rows):
            row = ActionItem(position=position, target_precision="day")
            for name in _ACTION_FIELDS:
                _set_action_field(row, name, a[name])
            row.progress = [
                ProgressNote(position=j, date=p["date"], note=p["note"])
                for j, p in enumerate(a["progress"], start=1)
            ]
            case.actions.append(row)
            changes.append(_Change("action added", entity, None, None, _canon(dict(a))))
            continue
        row = rows[position - 1]
        current = _action_doc(row)
        for name in _ACTION_FIELDS:
            if not _same(current[name], a[name]):
                action = "action status changed" if name == "status" else "action changed"
                changes.append(
                    _Change(action, entity, name, _shown(current[name]), _shown(a[name]))
                )
                _set_action_field(row, name, a[name])
        notes = list(row.progress)
        for j, p in enumerate(a["progress"], start=1):
            if j > len(notes):
                row.progress.append(ProgressNote(position=j, date=p["date"], note=p["note"]))
                changes.append(
                    _Change("progress noted", entity, "progress", None, _progress_text(p))
                )
            elif not _same(current["progress"][j - 1], p):
                changes.append(
                    _Change(
                        "progress note changed",
                        entity,
                        "progress",
                        _progress_text(current["progress"][j - 1]),
                        _progress_text(p),
                    )
                )
                notes[j - 1].date, notes[j - 1].note = p["date"], p["note"]
        for note in notes[len(a["progress"]) :]:
            changes.append(
                _Change(
                    "progress note removed",
                    entity,
                    "progress",
                    _progress_text({"date": note.date, "note": note.note}),
                    None,
                    REMOVED_FROM_FILE,
                )
            )
            row.progress.remove(note)
    for row in rows[len(plan) :]:
        changes.append(
            _Change(
                "action removed",
                f"action {row.position}",
                None,
                _canon(_action_doc(row)),
                None,
                REMOVED_FROM_FILE,
            )
        )
        case.actions.remove(row)


def _event_doc(e: CaseEvent) -> dict[str, Any]:
    item: dict[str, Any] = {"milestone": e.milestone}
    if e.precision == "month" and e.date is not None:
        item["month"] = f"{e.date.year:04d}-{e.date.month:02d}"
    else:
        item["date"] = e.date
    item["note"] = e.note
    if e.recorded_by:
        item["recorded_by"] = e.recorded_by
    return item


def _event_when(item: Mapping[str, Any]) -> object:
    return item["month"] if "month" in item else item.get("date")


def _set_event(row: CaseEvent, item: Mapping[str, Any]) -> None:
    if "month" in item:
        row.date, row.precision = day_of({"month": item["month"]}), "month"
    else:
        row.date, row.precision = item["date"], "day"
    row.note = item["note"]
    row.recorded_by = item.get("recorded_by")


# What each kind of event's differences are called: actual ones as `statclock case event`
# records and corrects them.
_EVENT_WORDS = {
    "actual": ("event", "event recorded", "event corrected", "event removed", "events"),
    "planned": (
        "planned event",
        "event planned",
        "planned event changed",
        "planned event removed",
        "planned events",
    ),
}


def _apply_events(
    case: Inspection,
    actual: Sequence[Mapping[str, Any]],
    planned: Sequence[Mapping[str, Any]],
    changes: list[_Change],
) -> None:
    """Events are matched by kind and milestone (the first recorded with the first in the
    file, and so on)."""
    before = len(changes)
    ordered: list[CaseEvent] = []
    gone: list[CaseEvent] = []
    for kind, items in (("actual", actual), ("planned", planned)):
        noun, added, corrected, removed, plural = _EVENT_WORDS[kind]
        old_rows = [e for e in case.events if e.kind == kind]
        pool: dict[str, list[CaseEvent]] = {}
        for e in old_rows:
            pool.setdefault(e.milestone, []).append(e)
        kept: list[CaseEvent] = []
        for item in items:
            entity = f"{noun} {item['milestone']}"
            candidates = pool.get(item["milestone"])
            if not candidates:
                row = CaseEvent(kind=kind, milestone=item["milestone"], position=0)
                _set_event(row, item)
                changes.append(
                    _Change(added, entity, "date", None, _shown(_event_when(item)), item["note"])
                )
                ordered.append(row)
                continue
            row = candidates.pop(0)
            kept.append(row)
            ordered.append(row)
            current = _event_doc(row)
            if _event_when(current) != _event_when(item) or ("month" in current) != (
                "month" in item
            ):
                changes.append(
                    _Change(
                        corrected,
                        entity,
                        "date",
                        _shown(_event_when(current)),
                        _shown(_event_when(item)),
                        item["note"],
                    )
                )
            for name in ("note", "recorded_by"):
                if current.get(name) != item.get(name):
                    changes.append(
                        _Change(corrected, entity, name, current.get(name), item.get(name))
                    )
            if not _same(current, dict(item)):
                _set_event(row, item)
        for row in old_rows:
            if row in kept:
                continue
            gone.append(row)
            changes.append(
                _Change(
                    removed,
                    f"{noun} {row.milestone}",
                    "date",
                    _shown(_event_when(_event_doc(row))),
                    None,
                    REMOVED_FROM_FILE,
                )
            )
        old_order = [e for e in old_rows if e in kept]
        new_order = [e for e in ordered if e.kind == kind and e in kept]
        if old_order != new_order:
            changes.append(
                _Change(
                    f"{plural} reordered",
                    f"case {case.key}",
                    plural.replace(" ", "_"),
                    _canon([e.milestone for e in old_order]),
                    _canon([e.milestone for e in new_order]),
                )
            )
    if len(changes) == before:
        return  # positions are only renumbered when something changed
    for row in gone:
        case.events.remove(row)
    for position, row in enumerate(ordered, start=1):
        if row.position != position:
            row.position = position
        if row not in case.events:
            case.events.append(row)
    case.events.sort(key=lambda e: e.position)


_INTERVENTION_FIELDS = (
    "direction",
    "commissioner",
    "independent_chair",
    "adviser",
    "reviews",
    "notes",
)


def _intervention_doc(iv: Intervention | None) -> dict[str, Any] | None:
    return None if iv is None else {name: getattr(iv, name) for name in _INTERVENTION_FIELDS}


def _apply_intervention(
    case: Inspection, wanted: Mapping[str, Any] | None, changes: list[_Change]
) -> None:
    current = _intervention_doc(case.intervention)
    if current is None and wanted is None:
        return
    if wanted is None:
        changes.append(
            _Change(
                "intervention removed",
                "intervention",
                None,
                _canon(current),
                None,
                REMOVED_FROM_FILE,
            )
        )
        case.intervention = None
    elif current is None or case.intervention is None:
        changes.append(
            _Change("intervention added", "intervention", None, None, _canon(dict(wanted)))
        )
        case.intervention = Intervention(**{n: wanted[n] for n in _INTERVENTION_FIELDS})
    else:
        for name in _INTERVENTION_FIELDS:
            if current[name] != wanted[name]:
                changes.append(
                    _Change(
                        "intervention changed", "intervention", name, current[name], wanted[name]
                    )
                )
                setattr(case.intervention, name, wanted[name])


def _board_doc(board: ImprovementBoard | None) -> dict[str, Any] | None:
    if board is None:
        return None
    return {
        "name": board.name,
        "chair": board.chair,
        "cadence": board.cadence,
        "cadence_changes": _from_jsonable(board.cadence_changes),
        "meetings": [_month_or_day(m.date, m.precision) for m in board.meetings],
        "other_reporting": list(board.other_reporting),
        "distribution": list(board.distribution),
    }


def _meetings(values: Sequence[Any]) -> list[BoardMeeting]:
    return [
        BoardMeeting(position=i, date=day_of(m), precision=precision_of(m))
        for i, m in enumerate(values, start=1)
    ]


def _apply_board(
    case: Inspection, wanted: Mapping[str, Any] | None, changes: list[_Change]
) -> None:
    current = _board_doc(case.board)
    if current is None and wanted is None:
        return
    if wanted is None:
        changes.append(
            _Change("board removed", "board", None, _canon(current), None, REMOVED_FROM_FILE)
        )
        case.board = None
        return
    if current is None or case.board is None:
        changes.append(_Change("board added", "board", None, None, _canon(dict(wanted))))
        case.board = ImprovementBoard(
            name=wanted["name"],
            chair=wanted["chair"],
            cadence=wanted["cadence"],
            cadence_changes=_jsonable(wanted["cadence_changes"]),
            other_reporting=list(wanted["other_reporting"]),
            distribution=list(wanted["distribution"]),
            meetings=_meetings(wanted["meetings"]),
        )
        return
    board = case.board
    for name in ("name", "chair", "cadence"):
        if current[name] != wanted[name]:
            changes.append(_Change("board changed", "board", name, current[name], wanted[name]))
            setattr(board, name, wanted[name])
    for name in ("cadence_changes", "meetings", "other_reporting", "distribution"):
        if _same(current[name], wanted[name]):
            continue
        changes += _list_changes("board changed", "board", name, current[name], wanted[name])
        if name == "meetings":
            board.meetings = _meetings(wanted["meetings"])
            continue
        if name == "cadence_changes":
            board.cadence_changes = _jsonable(wanted["cadence_changes"])
        else:
            setattr(board, name, list(wanted[name]))
        flag_modified(board, name)  # a JSON column: a new order alone is a change too


def _apply_owners(case: Inspection, owners: Mapping[str, str]) -> list[_Change]:
    """The owners of the milestones already on file; ``recompute`` gives new ones theirs."""
    changes = []
    for m in case.milestones:
        wanted = owners.get(m.milestone_id) or owners.get(m.rule.split(".", 1)[-1])
        if m.owner != wanted:
            changes.append(
                _Change("owner changed", f"milestone {m.milestone_id}", "owner", m.owner, wanted)
            )
            m.owner = wanted
    return changes


def _wanted_adjustments(items: Sequence[Mapping[str, Any]]) -> dict[str, _Adjustment]:
    wanted: dict[str, _Adjustment] = {}
    for a in items:
        if a["milestone"] in wanted:
            raise RegisterError("inspection.adjustments.milestone", a["milestone"], "appears twice")
        wanted[a["milestone"]] = _Adjustment(
            a["extended_to"], bool(a["waived"]), a["reason"], a["agreed_by"]
        )
    return wanted


def _adjustment_of(m: MilestoneRecord) -> _Adjustment:
    return _Adjustment(m.extended_to, bool(m.waived), m.adjustment_reason, m.agreed_by)


def _adjustment_of_id(case: Inspection, milestone_id: str) -> _Adjustment:
    for m in case.milestones:
        if m.milestone_id == milestone_id:
            return _adjustment_of(m)
    return _NO_ADJUSTMENT


def _adjust(row: MilestoneRecord, wanted: _Adjustment) -> list[_Change]:
    """Give a milestone the file's extension and waiver, audited as ``adjust_milestone`` audits
    a grant; one the file no longer has is withdrawn (the milestone is no longer extended or
    waived), audited as such."""
    current = _adjustment_of(row)
    entity = f"milestone {row.milestone_id}"
    granted = f"{wanted.reason} (agreed by {wanted.agreed_by})"
    changes = []
    if current.extended_to != wanted.extended_to:
        if wanted.extended_to is None:
            changes.append(
                _Change(
                    "extension withdrawn",
                    entity,
                    "extended_to",
                    current.extended_to,
                    None,
                    REMOVED_FROM_FILE,
                )
            )
        else:
            if wanted.extended_to <= row.due:
                raise RegisterError(
                    "inspection.adjustments.extended_to",
                    wanted.extended_to.isoformat(),
                    f"is not after the due date of {row.milestone_id} ({row.due.isoformat()})",
                )
            changes.append(
                _Change(
                    "extension granted",
                    entity,
                    "extended_to",
                    current.extended_to,
                    wanted.extended_to,
                    granted,
                )
            )
        row.extended_to = wanted.extended_to
        row.due_version += 1  # reminders restart against the new date
    if current.waived != wanted.waived:
        if wanted.waived:
            changes.append(_Change("waiver granted", entity, "waived", False, True, granted))
        else:
            changes.append(
                _Change("waiver withdrawn", entity, "waived", True, False, REMOVED_FROM_FILE)
            )
        row.waived = wanted.waived
    if not changes:  # the same extension and waiver, on another reason or approver
        for name in ("reason", "agreed_by"):
            if getattr(current, name) != getattr(wanted, name):
                changes.append(
                    _Change(
                        "adjustment changed",
                        entity,
                        name,
                        getattr(current, name),
                        getattr(wanted, name),
                    )
                )
    row.adjustment_reason, row.agreed_by = wanted.reason, wanted.agreed_by
    return changes


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


def _month_or_day(value: date | None, precision: str) -> Any:
    if value is None:
        return None
    return {"month": f"{value.year:04d}-{value.month:02d}"} if precision == "month" else value


def export_case(case: Inspection) -> dict[str, Any]:
    """The case as a canonical case-file document (see casefile.normalise)."""
    la = case.local_authority
    events: dict[str, list[dict[str, Any]]] = {"actual": [], "planned": []}
    for e in case.events:
        events[e.kind].append(_event_doc(e))
    owners = {m.milestone_id: m.owner for m in case.milestones if m.owner}
    doc: dict[str, Any] = {
        "schema_version": 1,
        "key": case.key,
        "local_authority": {"name": la.name, "dfe_code": la.dfe_code},
        "contacts": [_contact_doc(c) for c in case.contacts],
        "inspection": {
            **_case_fields(case),
            "recommendations": [_recommendation_doc(r) for r in case.recommendations],
            "action_plan": [_action_doc(a) for a in case.actions],
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
        "intervention": _intervention_doc(case.intervention),
        "board": _board_doc(case.board),
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


# -- authorities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorityRename:
    dfe_code: str
    old_name: str
    new_name: str
    cases: tuple[str, ...]


@dataclass(frozen=True)
class AuthoritySummary:
    dfe_code: str
    name: str
    cases: tuple[str, ...]


def list_authorities(session: Session) -> list[AuthoritySummary]:
    keys: dict[int, list[str]] = {}
    for la_id, key in session.execute(
        select(Inspection.local_authority_id, Inspection.key).order_by(Inspection.key)
    ):
        keys.setdefault(la_id, []).append(key)
    return [
        AuthoritySummary(la.dfe_code, la.name, tuple(keys.get(la.id, ())))
        for la in session.execute(select(LocalAuthority).order_by(LocalAuthority.dfe_code))
        .scalars()
        .all()
    ]


_NAME_LIMIT = 200  # local_authority.name is VARCHAR(200)


def rename_authority(
    session: Session,
    dfe_code: str,
    new_name: str,
    actor: str | Actor,
    reason: str | None = None,
) -> AuthorityRename:
    """Rename an authority for all its cases, in one transaction.

    Audited once under each of its cases (each case's own trail, ``statclock case audit``,
    then shows the name its exports and packs now carry, and each case's version moves on so a
    writer holding an older read is refused), or once with no case if it has none, so a rename
    is never unaudited.
    """
    lock_for_writing(session)
    la = session.execute(
        select(LocalAuthority).where(LocalAuthority.dfe_code == dfe_code).with_for_update()
    ).scalar_one_or_none()
    if la is None:
        raise RegisterError(
            "dfe_code",
            dfe_code,
            "is not an authority in the register (see `statclock authority list`)",
        )
    if not new_name.strip():
        raise RegisterError("name", new_name, "is empty")
    if new_name != new_name.strip():
        raise RegisterError("name", new_name, "has spaces at either end")
    try:  # the same rule as a case file's authority name
        Text(_NAME_LIMIT).check("name", new_name)
    except InputError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None
    if new_name == la.name:
        raise RegisterError("name", new_name, f"is already the name of DfE code {dfe_code}")
    cases = (
        session.execute(
            select(Inspection)
            .where(Inspection.local_authority_id == la.id)
            .order_by(Inspection.key)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    old_name, la.name = la.name, new_name
    entity = f"authority {dfe_code}"
    if not cases:
        audit(session, actor, "authority renamed", None, entity, "name", old_name, new_name, reason)
    for case in cases:
        _touch(case, None)
        audit(
            session,
            actor,
            "authority renamed",
            case.key,
            entity,
            "name",
            old_name,
            new_name,
            reason,
        )
    session.flush()
    return AuthorityRename(dfe_code, old_name, new_name, tuple(c.key for c in cases))


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
