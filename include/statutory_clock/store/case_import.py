"""Case files into the register: a new case, or a replacement audited difference by
difference, each as the register's own command for that change audits it.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from statutory_clock.store.audit import Actor, audit, bump_version, lock_for_writing, utc_now
from statutory_clock.store.case_document import CaseDocument, Lifecycle
from statutory_clock.store.case_export import (
    CONTACT_FIELDS,
    INTERVENTION_FIELDS,
    action_doc,
    board_doc,
    case_fields,
    event_doc,
    intervention_doc,
    interventions_to_json,
    jsonable,
    lifecycle_doc,
    recommendation_doc,
)
from statutory_clock.store.casefile import day_of, precision_of
from statutory_clock.store.casefile_typing import (
    ActionDict,
    AdjustmentDict,
    BoardDict,
    CaseFileDict,
    ContactDict,
    EventDict,
    InterventionDict,
    LifecycleDict,
    LocalAuthorityDict,
    ProgressDict,
    RecommendationDict,
)
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.lifecycle import CASE_CLOSED, CASE_REOPENED, set_lifecycle, supersede
from statutory_clock.store.models import (
    ActionItem,
    BoardMeeting,
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
from statutory_clock.store.reading import get_case
from statutory_clock.store.recompute import recompute

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
    session: Session, la_doc: LocalAuthorityDict, actor: str | Actor, key: str
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
    document: CaseDocument,
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

    A file may close or reopen its case (its ``lifecycle`` block), audited as the commands
    are. A newly registered case supersedes the open cases of the same authority published
    before it, closed in this same transaction (:func:`statutory_clock.store.lifecycle.
    supersede`).
    """
    if document.key is None:
        raise RegisterError("key", "", "is missing: a case in the register needs one")
    key = document.key
    # The register's rows are compared with the file, and their differences audited, in the
    # canonical dict form (the shape case_export makes of each row): convert once, here.
    doc = document.to_dict()
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
        now = utc_now()
        case = Inspection(
            key=key,
            local_authority=la,
            version=1,
            created_at=now,
            updated_at=now,
            framework=ins["framework"],
            published=day_of(ins["published"]),
            open=True,  # until the file's lifecycle says otherwise
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
            if change.action in ("contact added", CASE_CLOSED):
                _audit_change(session, actor, key, change)
    elif changes or adjusted:
        bump_version(case, None)
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
    # Statuses wait for the adjustments, if any: each status change is then audited once.
    recompute(
        session, case, as_of, actor, owners=owners, reason="case imported", statuses=not adjusted
    )
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
    if existing is None:  # a newly registered inspection closes the ones it supersedes
        supersede(session, case, actor, as_of)
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


def _apply_case_file(case: Inspection, doc: CaseFileDict, la: LocalAuthority) -> list[_Change]:
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
    current = case_fields(case)
    by_name: Mapping[str, Any] = ins  # compared field by field, by name
    for name, value in by_name.items():
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
    _apply_lifecycle(case, doc.get("lifecycle"), changes)
    return changes


def _apply_lifecycle(
    case: Inspection, wanted: LifecycleDict | None, changes: list[_Change]
) -> None:
    """A file may close or reopen its case, audited as ``statclock case close/reopen`` are."""
    current = lifecycle_doc(case)
    if _same(current, wanted):
        return
    entity = f"case {case.key}"
    if wanted is None:
        changes.append(
            _Change(CASE_REOPENED, entity, "state", "closed", "open", "reopened in the case file")
        )
        set_lifecycle(case, None)
        return
    closing = Lifecycle.from_dict(wanted)
    if current is None:
        changes.append(_Change(CASE_CLOSED, entity, "state", "open", "closed", closing.describe()))
    else:
        for name in ("reason", "closed_on", "by", "note", "superseded_by"):
            if current[name] != wanted[name]:
                changes.append(
                    _Change(
                        "case lifecycle changed",
                        entity,
                        f"lifecycle.{name}",
                        current[name],
                        wanted[name],
                    )
                )
    set_lifecycle(case, closing)


def _apply_contacts(
    case: Inspection, contacts: Sequence[ContactDict], changes: list[_Change]
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
    rows_by_name = {c.name: c for c in case.contacts}
    kept = [c.name for c in case.contacts]
    for contact in contacts:
        c: Mapping[str, Any] = contact  # its fields are compared by name (CONTACT_FIELDS)
        row = rows_by_name.get(c["name"])
        if row is None:
            row = Contact(name=c["name"], position=0)
            for f, attr in CONTACT_FIELDS.items():
                setattr(row, attr, c[f])
            case.contacts.append(row)
            changes.append(
                _Change("contact added", f"contact {c['name']}", "role", None, c["role"])
            )
            continue
        for f, attr in CONTACT_FIELDS.items():
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


def _apply_recommendations(
    case: Inspection, recommendations: Sequence[RecommendationDict], changes: list[_Change]
) -> None:
    """Recommendations are matched by number (the casefile checks that each is unique)."""
    wanted = {r["number"]: r for r in recommendations}
    for gone in [r for r in case.recommendations if r.number not in wanted]:
        changes.append(
            _Change(
                "recommendation removed",
                f"recommendation {gone.number}",
                None,
                _canon(recommendation_doc(gone)),
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


def _progress_text(p: ProgressDict) -> str:
    """A progress note as ``update_action`` audits it: "YYYY-MM-DD: note"."""
    day = p["date"]
    return f"{day.isoformat()}: {p['note']}" if day is not None else str(p["note"])


def _set_action_field(row: ActionItem, name: str, value: Any) -> None:
    if name == "target_date":
        row.target_date = day_of(value) if value is not None else None
        row.target_precision = precision_of(value)
    else:
        setattr(row, name, value)


def _apply_actions(case: Inspection, plan: Sequence[ActionDict], changes: list[_Change]) -> None:
    """Actions are matched by row number, as ``statclock action update`` names them."""
    rows = list(case.actions)
    for position, item in enumerate(plan, start=1):
        a: Mapping[str, Any] = item  # its fields are compared by name (_ACTION_FIELDS)
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
        current: Mapping[str, Any] = action_doc(row)
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
                _canon(action_doc(row)),
                None,
                REMOVED_FROM_FILE,
            )
        )
        case.actions.remove(row)


def _event_when(item: EventDict) -> object:
    return item["month"] if "month" in item else item.get("date")


def _set_event(row: CaseEvent, item: EventDict) -> None:
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
    actual: Sequence[EventDict],
    planned: Sequence[EventDict],
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
            current = event_doc(row)
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
                    _shown(_event_when(event_doc(row))),
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


def _apply_intervention(
    case: Inspection, wanted: InterventionDict | None, changes: list[_Change]
) -> None:
    current = intervention_doc(case.intervention)
    if current is None and wanted is None:
        return
    by_name: Mapping[str, Any] = wanted or {}  # compared field by field (INTERVENTION_FIELDS)
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
        case.intervention = Intervention(
            **{n: by_name[n] for n in INTERVENTION_FIELDS},
            interventions=interventions_to_json(wanted.get("interventions", [])),
        )
    else:
        was: Mapping[str, Any] = current
        for name in INTERVENTION_FIELDS:
            if was[name] != by_name[name]:
                changes.append(
                    _Change("intervention changed", "intervention", name, was[name], by_name[name])
                )
                setattr(case.intervention, name, by_name[name])
        old, new = current.get("interventions", []), wanted.get("interventions", [])
        if not _same(old, new):
            changes += _list_changes(
                "intervention changed", "intervention", "interventions", old, new
            )
            case.intervention.interventions = interventions_to_json(new)
            flag_modified(case.intervention, "interventions")


def _meetings(values: Sequence[Any]) -> list[BoardMeeting]:
    return [
        BoardMeeting(position=i, date=day_of(m), precision=precision_of(m))
        for i, m in enumerate(values, start=1)
    ]


def _apply_board(case: Inspection, wanted: BoardDict | None, changes: list[_Change]) -> None:
    current = board_doc(case.board)
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
            cadence_changes=jsonable(wanted["cadence_changes"]),
            other_reporting=list(wanted["other_reporting"]),
            distribution=list(wanted["distribution"]),
            meetings=_meetings(wanted["meetings"]),
        )
        return
    board = case.board
    was: Mapping[str, Any] = current  # compared field by field, by name
    now: Mapping[str, Any] = wanted
    for name in ("name", "chair", "cadence"):
        if was[name] != now[name]:
            changes.append(_Change("board changed", "board", name, was[name], now[name]))
            setattr(board, name, now[name])
    for name in ("cadence_changes", "meetings", "other_reporting", "distribution"):
        if _same(was[name], now[name]):
            continue
        changes += _list_changes("board changed", "board", name, was[name], now[name])
        if name == "meetings":
            board.meetings = _meetings(wanted["meetings"])
            continue
        if name == "cadence_changes":
            board.cadence_changes = jsonable(wanted["cadence_changes"])
        else:
            setattr(board, name, list(now[name]))
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


def _wanted_adjustments(items: Sequence[AdjustmentDict]) -> dict[str, _Adjustment]:
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
