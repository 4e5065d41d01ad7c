"""The register's rows as a case file writes them, and a whole case exported.

Each ``*_doc`` function gives one row's part of the canonical case-file document (see
:func:`statutory_clock.store.casefile.normalise`); :mod:`~statutory_clock.store.case_import`
compares a file with them, so what is exported is exactly what an import compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, cast, overload

from statutory_clock.store.case_document import CaseDocument
from statutory_clock.store.casefile_typing import (
    ActionDict,
    BoardDict,
    CadenceChangeDict,
    CaseFileDict,
    ContactDict,
    DayOrMonth,
    EventDict,
    InterventionDict,
    InterventionEntryDict,
    LifecycleDict,
    OtherReportingDict,
    RecommendationDict,
)
from statutory_clock.store.models import (
    ActionItem,
    CaseEvent,
    Contact,
    ImprovementBoard,
    Inspection,
    Intervention,
)
from statutory_clock.store.models import Recommendation as RecommendationRow
from statutory_clock.store.reading import lifecycle_of


def lifecycle_doc(case: Inspection) -> LifecycleDict | None:
    closing = lifecycle_of(case)
    return None if closing is None else closing.to_dict()


def case_fields(case: Inspection) -> dict[str, Any]:
    """The inspection's own fields as the case file writes them (the first ten keys of
    :class:`~statutory_clock.store.casefile_typing.InspectionDict`), by name: an import compares
    a file's fields with them one by one."""
    return {
        "framework": case.framework,
        "title": case.title,
        "notified": case.notified,
        "fieldwork_start": case.fieldwork_start,
        "fieldwork_end": case.fieldwork_end,
        "published": month_or_day(case.published, case.published_precision),
        "received": case.received,
        "judgements": dict(case.judgements or {}),
        "lscb_review": case.lscb_review,
        "rounding": case.rounding,
    }


CONTACT_FIELDS = {
    "role": "role",
    "email": "email",
    "phone": "phone",
    "escalation_to": "escalation_contact",
    "reminders": "reminders",
}


def contact_doc(c: Contact) -> ContactDict:
    return {
        "name": c.name,
        "role": c.role,
        "email": c.email,
        "phone": c.phone,
        "escalation_to": c.escalation_contact,
        "reminders": c.reminders,
    }


def recommendation_doc(r: RecommendationRow) -> RecommendationDict:
    return {"number": r.number, "text": r.text, "timescale": r.timescale, "theme": r.theme}


def action_doc(a: ActionItem) -> ActionDict:
    return {
        "recommendation": a.recommendation,
        "current_strategy": a.current_strategy,
        "required_outcome": a.required_outcome,
        "lead_officer": a.lead_officer,
        "key_tasks": a.key_tasks,
        "progress": [{"date": p.date, "note": p.note} for p in a.progress],
        "target_date": month_or_day(a.target_date, a.target_precision),
        "status": a.status,
        "smt_lead": a.smt_lead,
    }


def event_doc(e: CaseEvent) -> EventDict:
    item: EventDict  # in the canonical order: milestone, date or month, note, recorded_by
    if e.precision == "month" and e.date is not None:
        month = f"{e.date.year:04d}-{e.date.month:02d}"
        item = {"milestone": e.milestone, "month": month, "note": e.note}
    else:
        item = {"milestone": e.milestone, "date": e.date, "note": e.note}
    if e.recorded_by:
        item["recorded_by"] = e.recorded_by
    return item


INTERVENTION_FIELDS = (
    "direction",
    "commissioner",
    "independent_chair",
    "adviser",
    "reviews",
    "notes",
)


def intervention_doc(iv: Intervention | None) -> InterventionDict | None:
    if iv is None:
        return None
    doc: InterventionDict = {
        "direction": iv.direction,
        "commissioner": iv.commissioner,
        "independent_chair": iv.independent_chair,
        "adviser": iv.adviser,
        "reviews": iv.reviews,
        "notes": iv.notes,
    }
    if iv.interventions:  # as the case file writes it: only when there are some
        doc["interventions"] = interventions_from_json(iv.interventions)
    return doc


def interventions_to_json(entries: list[InterventionEntryDict]) -> list[dict[str, Any]]:
    """The JSON column's form of a case file's ``intervention.interventions``."""
    return [{**e, "date": e["date"].isoformat()} for e in entries]


def interventions_from_json(rows: list[Any]) -> list[InterventionEntryDict]:
    return [
        {
            "kind": r["kind"],
            "date": date.fromisoformat(r["date"]),
            "commissioner": bool(r["commissioner"]),
            "independent_chair": bool(r["independent_chair"]),
            "note": r.get("note"),
        }
        for r in rows
    ]


def board_doc(board: ImprovementBoard | None) -> BoardDict | None:
    if board is None:
        return None
    return {
        "name": board.name,
        "chair": board.chair,
        "cadence": board.cadence,
        # JSON columns, as the import stored them (dates as {"date": ...}: see jsonable).
        "cadence_changes": cast("list[CadenceChangeDict]", _from_jsonable(board.cadence_changes)),
        "meetings": [month_or_day(m.date, m.precision) for m in board.meetings],
        "other_reporting": cast("list[OtherReportingDict]", list(board.other_reporting)),
        "distribution": list(board.distribution),
    }


def jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"date"}:
            return date.fromisoformat(value["date"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


@overload
def month_or_day(value: date, precision: str) -> DayOrMonth: ...
@overload
def month_or_day(value: date | None, precision: str) -> DayOrMonth | None: ...
def month_or_day(value: date | None, precision: str) -> DayOrMonth | None:
    if value is None:
        return None
    return {"month": f"{value.year:04d}-{value.month:02d}"} if precision == "month" else value


def export_case(case: Inspection) -> CaseDocument:
    """The case as a canonical case-file document (see casefile.normalise)."""
    la = case.local_authority
    events: dict[str, list[EventDict]] = {"actual": [], "planned": []}
    for e in case.events:
        events[e.kind].append(event_doc(e))
    owners = {m.milestone_id: m.owner for m in case.milestones if m.owner}
    fields = case_fields(case)
    doc: CaseFileDict = {
        "schema_version": 1,
        "key": case.key,
        "local_authority": {"name": la.name, "dfe_code": la.dfe_code},
        "contacts": [contact_doc(c) for c in case.contacts],
        "inspection": {
            "framework": fields["framework"],
            "title": fields["title"],
            "notified": fields["notified"],
            "fieldwork_start": fields["fieldwork_start"],
            "fieldwork_end": fields["fieldwork_end"],
            "published": fields["published"],
            "received": fields["received"],
            "judgements": fields["judgements"],
            "lscb_review": fields["lscb_review"],
            "rounding": fields["rounding"],
            "recommendations": [recommendation_doc(r) for r in case.recommendations],
            "action_plan": [action_doc(a) for a in case.actions],
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
        "intervention": intervention_doc(case.intervention),
        "board": board_doc(case.board),
        "sources": list(case.sources),
        "notes": case.notes,
        "lifecycle": lifecycle_doc(case),
    }
    return CaseDocument.from_dict(doc)


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
