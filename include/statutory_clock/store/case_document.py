"""The case file inside the register: typed frozen objects.

A case file crosses the YAML edge as a :class:`~statutory_clock.store.casefile_typing.CaseFileDict`
(validated by ``casefile.schema.json`` and the checks in :mod:`statutory_clock.store.casefile`,
then made canonical by ``casefile.normalise``); inside, it is a :class:`CaseDocument`. The two
meet only in :meth:`CaseDocument.from_dict` and :meth:`CaseDocument.to_dict`, which keep the
canonical key order exactly, so that ``dump_case_file`` writes the same bytes as from the dict.

Dates are :class:`datetime.date`; a value the source gives only to the month is a :class:`Month`.
Sequences are tuples so that a document cannot be edited in place: use ``dataclasses.replace``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from statutory_clock.store.casefile_typing import (
    ActionDict,
    AdjustmentDict,
    BoardDict,
    CadenceChangeDict,
    CaseFileDict,
    ContactDict,
    DayOrMonth,
    EventDict,
    InspectionDict,
    InterventionDict,
    InterventionEntryDict,
    LifecycleDict,
    LocalAuthorityDict,
    OtherReportingDict,
    ProgressDict,
    RecommendationDict,
)
from statutory_clock.vocabulary import CloseReason


@dataclass(frozen=True)
class Month:
    """A date known only to the month, as the source gives it: ``month`` is ``YYYY-MM``."""

    month: str

    def __str__(self) -> str:
        return self.month


Day = date | Month


def _day_or_month(raw: DayOrMonth) -> Day:
    return raw if isinstance(raw, date) else Month(raw["month"])


def _maybe_day_or_month(raw: DayOrMonth | None) -> Day | None:
    return None if raw is None else _day_or_month(raw)


def _day_or_month_dict(value: Day) -> DayOrMonth:
    return value if isinstance(value, date) else {"month": value.month}


def _maybe_day_or_month_dict(value: Day | None) -> DayOrMonth | None:
    return None if value is None else _day_or_month_dict(value)


@dataclass(frozen=True)
class LocalAuthority:
    name: str
    dfe_code: str

    @classmethod
    def from_dict(cls, raw: LocalAuthorityDict) -> LocalAuthority:
        return cls(name=raw["name"], dfe_code=raw["dfe_code"])

    def to_dict(self) -> LocalAuthorityDict:
        return {"name": self.name, "dfe_code": self.dfe_code}


@dataclass(frozen=True)
class Contact:
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    escalation_to: str | None = None
    reminders: str = "each"  # or "daily digest": one email a day (vocabulary.REMINDER_CHOICES)

    @classmethod
    def from_dict(cls, raw: ContactDict) -> Contact:
        return cls(
            name=raw["name"],
            role=raw["role"],
            email=raw["email"],
            phone=raw["phone"],
            escalation_to=raw["escalation_to"],
            reminders=raw["reminders"],
        )

    def to_dict(self) -> ContactDict:
        return {
            "name": self.name,
            "role": self.role,
            "email": self.email,
            "phone": self.phone,
            "escalation_to": self.escalation_to,
            "reminders": self.reminders,
        }


@dataclass(frozen=True)
class Recommendation:
    number: int
    text: str | None = None
    timescale: str | None = None
    theme: str | None = None

    @classmethod
    def from_dict(cls, raw: RecommendationDict) -> Recommendation:
        return cls(
            number=raw["number"], text=raw["text"], timescale=raw["timescale"], theme=raw["theme"]
        )

    def to_dict(self) -> RecommendationDict:
        return {
            "number": self.number,
            "text": self.text,
            "timescale": self.timescale,
            "theme": self.theme,
        }


@dataclass(frozen=True)
class ProgressNote:
    on: date | None
    note: str

    @classmethod
    def from_dict(cls, raw: ProgressDict) -> ProgressNote:
        return cls(on=raw["date"], note=raw["note"])

    def to_dict(self) -> ProgressDict:
        return {"date": self.on, "note": self.note}


@dataclass(frozen=True)
class ActionItem:
    recommendation: int | None = None
    current_strategy: str | None = None
    required_outcome: str | None = None
    lead_officer: str | None = None
    key_tasks: str | None = None
    progress: tuple[ProgressNote, ...] = ()
    target_date: Day | None = None
    status: str | None = None
    smt_lead: str | None = None

    @classmethod
    def from_dict(cls, raw: ActionDict) -> ActionItem:
        return cls(
            recommendation=raw["recommendation"],
            current_strategy=raw["current_strategy"],
            required_outcome=raw["required_outcome"],
            lead_officer=raw["lead_officer"],
            key_tasks=raw["key_tasks"],
            progress=tuple(ProgressNote.from_dict(p) for p in raw["progress"]),
            target_date=_maybe_day_or_month(raw["target_date"]),
            status=raw["status"],
            smt_lead=raw["smt_lead"],
        )

    def to_dict(self) -> ActionDict:
        return {
            "recommendation": self.recommendation,
            "current_strategy": self.current_strategy,
            "required_outcome": self.required_outcome,
            "lead_officer": self.lead_officer,
            "key_tasks": self.key_tasks,
            "progress": [p.to_dict() for p in self.progress],
            "target_date": _maybe_day_or_month_dict(self.target_date),
            "status": self.status,
            "smt_lead": self.smt_lead,
        }


@dataclass(frozen=True)
class Event:
    """Something that happened (or is planned) for a milestone: on a day, in a month, or undated."""

    milestone: str
    on: Day | None = None
    note: str | None = None
    recorded_by: str | None = None  # written only when someone is named

    @classmethod
    def from_dict(cls, raw: EventDict) -> Event:
        on: Day | None = Month(raw["month"]) if "month" in raw else raw.get("date")
        return cls(
            milestone=raw["milestone"],
            on=on,
            note=raw["note"],
            recorded_by=raw.get("recorded_by"),
        )

    def to_dict(self) -> EventDict:
        # In the canonical order: milestone, date or month, note, recorded_by.
        event: EventDict
        if isinstance(self.on, Month):
            event = {"milestone": self.milestone, "month": self.on.month, "note": self.note}
        else:
            event = {"milestone": self.milestone, "date": self.on, "note": self.note}
        if self.recorded_by:
            event["recorded_by"] = self.recorded_by
        return event


@dataclass(frozen=True)
class Adjustment:
    milestone: str
    extended_to: date | None
    waived: bool
    reason: str
    agreed_by: str | None

    @classmethod
    def from_dict(cls, raw: AdjustmentDict) -> Adjustment:
        return cls(
            milestone=raw["milestone"],
            extended_to=raw["extended_to"],
            waived=raw["waived"],
            reason=raw["reason"],
            agreed_by=raw["agreed_by"],
        )

    def to_dict(self) -> AdjustmentDict:
        return {
            "milestone": self.milestone,
            "extended_to": self.extended_to,
            "waived": self.waived,
            "reason": self.reason,
            "agreed_by": self.agreed_by,
        }


@dataclass(frozen=True)
class InspectionDocument:
    framework: str
    title: str | None
    notified: date | None
    fieldwork_start: date | None
    fieldwork_end: date | None
    published: Day
    received: date | None
    judgements: Mapping[str, str]  # area -> grade, in the report's order
    lscb_review: str | None
    rounding: str
    recommendations: tuple[Recommendation, ...]
    action_plan: tuple[ActionItem, ...]
    events: tuple[Event, ...]  # what happened
    planned: tuple[Event, ...]  # what is planned (a visit's expected date)
    milestone_owners: Mapping[str, str]  # milestone or rule id -> contact name
    adjustments: tuple[Adjustment, ...]

    @classmethod
    def from_dict(cls, raw: InspectionDict) -> InspectionDocument:
        return cls(
            framework=raw["framework"],
            title=raw["title"],
            notified=raw["notified"],
            fieldwork_start=raw["fieldwork_start"],
            fieldwork_end=raw["fieldwork_end"],
            published=_day_or_month(raw["published"]),
            received=raw["received"],
            judgements=dict(raw["judgements"]),
            lscb_review=raw["lscb_review"],
            rounding=raw["rounding"],
            recommendations=tuple(Recommendation.from_dict(r) for r in raw["recommendations"]),
            action_plan=tuple(ActionItem.from_dict(a) for a in raw["action_plan"]),
            events=tuple(Event.from_dict(e) for e in raw["events"]),
            planned=tuple(Event.from_dict(e) for e in raw["planned"]),
            milestone_owners=dict(raw["milestone_owners"]),
            adjustments=tuple(Adjustment.from_dict(a) for a in raw["adjustments"]),
        )

    def to_dict(self) -> InspectionDict:
        return {
            "framework": self.framework,
            "title": self.title,
            "notified": self.notified,
            "fieldwork_start": self.fieldwork_start,
            "fieldwork_end": self.fieldwork_end,
            "published": _day_or_month_dict(self.published),
            "received": self.received,
            "judgements": dict(self.judgements),
            "lscb_review": self.lscb_review,
            "rounding": self.rounding,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "action_plan": [a.to_dict() for a in self.action_plan],
            "events": [e.to_dict() for e in self.events],
            "planned": [e.to_dict() for e in self.planned],
            "milestone_owners": dict(self.milestone_owners),
            "adjustments": [a.to_dict() for a in self.adjustments],
        }


@dataclass(frozen=True)
class InterventionEntry:
    """One DfE intervention as the facts the rules follow (the engine's InterventionFact)."""

    kind: Literal["direction", "improvement_notice"]
    on: date
    commissioner: bool = False  # it appoints a commissioner
    independent_chair: bool = False  # it names an independent chair of the improvement board
    note: str | None = None

    @classmethod
    def from_dict(cls, raw: InterventionEntryDict) -> InterventionEntry:
        return cls(
            kind=raw["kind"],
            on=raw["date"],
            commissioner=raw["commissioner"],
            independent_chair=raw["independent_chair"],
            note=raw["note"],
        )

    def to_dict(self) -> InterventionEntryDict:
        return {
            "kind": self.kind,
            "date": self.on,
            "commissioner": self.commissioner,
            "independent_chair": self.independent_chair,
            "note": self.note,
        }


@dataclass(frozen=True)
class Intervention:
    direction: date | None = None  # a bare direction: with a commissioner and independent chair
    commissioner: str | None = None  # the commissioner's name
    independent_chair: str | None = None  # the chair's name
    adviser: str | None = None
    reviews: str | None = None
    notes: str | None = None
    interventions: tuple[InterventionEntry, ...] = ()  # typed: kind, date, appointments

    @classmethod
    def from_dict(cls, raw: InterventionDict) -> Intervention:
        return cls(
            direction=raw["direction"],
            commissioner=raw["commissioner"],
            independent_chair=raw["independent_chair"],
            adviser=raw["adviser"],
            reviews=raw["reviews"],
            notes=raw["notes"],
            interventions=tuple(
                InterventionEntry.from_dict(i) for i in raw.get("interventions", ())
            ),
        )

    def to_dict(self) -> InterventionDict:
        doc: InterventionDict = {
            "direction": self.direction,
            "commissioner": self.commissioner,
            "independent_chair": self.independent_chair,
            "adviser": self.adviser,
            "reviews": self.reviews,
            "notes": self.notes,
        }
        if self.interventions:  # written only when there are some (older files keep their bytes)
            doc["interventions"] = [i.to_dict() for i in self.interventions]
        return doc


@dataclass(frozen=True)
class CadenceChange:
    start: Day | None  # the file's "from", a Python keyword
    cadence: str
    note: str | None = None

    @classmethod
    def from_dict(cls, raw: CadenceChangeDict) -> CadenceChange:
        return cls(start=_maybe_day_or_month(raw["from"]), cadence=raw["cadence"], note=raw["note"])

    def to_dict(self) -> CadenceChangeDict:
        return {
            "from": _maybe_day_or_month_dict(self.start),
            "cadence": self.cadence,
            "note": self.note,
        }


@dataclass(frozen=True)
class OtherReporting:
    body: str
    cadence: str | None = None
    note: str | None = None

    @classmethod
    def from_dict(cls, raw: OtherReportingDict) -> OtherReporting:
        return cls(body=raw["body"], cadence=raw["cadence"], note=raw["note"])

    def to_dict(self) -> OtherReportingDict:
        return {"body": self.body, "cadence": self.cadence, "note": self.note}


@dataclass(frozen=True)
class Board:
    name: str | None = None
    chair: str | None = None
    cadence: str | None = None
    cadence_changes: tuple[CadenceChange, ...] = ()
    meetings: tuple[Day, ...] = ()
    other_reporting: tuple[OtherReporting, ...] = ()
    distribution: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: BoardDict) -> Board:
        return cls(
            name=raw["name"],
            chair=raw["chair"],
            cadence=raw["cadence"],
            cadence_changes=tuple(CadenceChange.from_dict(c) for c in raw["cadence_changes"]),
            meetings=tuple(_day_or_month(m) for m in raw["meetings"]),
            other_reporting=tuple(OtherReporting.from_dict(o) for o in raw["other_reporting"]),
            distribution=tuple(raw["distribution"]),
        )

    def to_dict(self) -> BoardDict:
        return {
            "name": self.name,
            "chair": self.chair,
            "cadence": self.cadence,
            "cadence_changes": [c.to_dict() for c in self.cadence_changes],
            "meetings": [_day_or_month_dict(m) for m in self.meetings],
            "other_reporting": [o.to_dict() for o in self.other_reporting],
            "distribution": list(self.distribution),
        }


@dataclass(frozen=True)
class Lifecycle:
    """Why, when and by whom a case closed: a closed case's ``lifecycle`` block, and what the
    register keeps of it (an open case has none)."""

    reason: CloseReason
    closed_on: date
    by: str | None = None
    note: str | None = None
    superseded_by: str | None = None
    state: Literal["closed"] = "closed"

    @classmethod
    def from_dict(cls, raw: LifecycleDict) -> Lifecycle:
        return cls(
            reason=raw["reason"],
            closed_on=raw["closed_on"],
            by=raw["by"],
            note=raw["note"],
            superseded_by=raw["superseded_by"],
        )

    def describe(self) -> str:
        """One line for the audit trail and the CLI: "superseded by bromley-2016"..."""
        if self.reason == "superseded":
            what = f"superseded by {self.superseded_by}"
        elif self.reason == "intervention_lifted":
            what = "intervention lifted" + (f" (closed by {self.by})" if self.by else "")
        else:
            what = f"closed by {self.by}" if self.by else "closed by a person"
        return f"{what}: {self.note}" if self.note else what

    def to_dict(self) -> LifecycleDict:
        return {
            "state": self.state,
            "reason": self.reason,
            "closed_on": self.closed_on,
            "by": self.by,
            "note": self.note,
            "superseded_by": self.superseded_by,
        }


@dataclass(frozen=True)
class CaseDocument:
    """One case file: what ``casefile`` reads, ``case_import`` records and ``case_export`` makes."""

    schema_version: int
    key: str | None  # a file may take it from its name; every imported or exported one has it
    local_authority: LocalAuthority
    contacts: tuple[Contact, ...]
    inspection: InspectionDocument
    intervention: Intervention | None
    board: Board | None
    sources: tuple[Mapping[str, str | None], ...]
    notes: str | None
    lifecycle: Lifecycle | None

    @classmethod
    def from_dict(cls, raw: CaseFileDict) -> CaseDocument:
        intervention = raw["intervention"]
        board = raw["board"]
        lifecycle = raw["lifecycle"]
        return cls(
            schema_version=raw["schema_version"],
            key=raw.get("key"),
            local_authority=LocalAuthority.from_dict(raw["local_authority"]),
            contacts=tuple(Contact.from_dict(c) for c in raw["contacts"]),
            inspection=InspectionDocument.from_dict(raw["inspection"]),
            intervention=None if intervention is None else Intervention.from_dict(intervention),
            board=None if board is None else Board.from_dict(board),
            sources=tuple(dict(s) for s in raw["sources"]),
            notes=raw["notes"],
            lifecycle=None if lifecycle is None else Lifecycle.from_dict(lifecycle),
        )

    def to_dict(self) -> CaseFileDict:
        doc: CaseFileDict = {
            "schema_version": self.schema_version,
            "local_authority": self.local_authority.to_dict(),
            "contacts": [c.to_dict() for c in self.contacts],
            "inspection": self.inspection.to_dict(),
            "intervention": None if self.intervention is None else self.intervention.to_dict(),
            "board": None if self.board is None else self.board.to_dict(),
            "sources": [dict(s) for s in self.sources],
            "notes": self.notes,
            "lifecycle": None if self.lifecycle is None else self.lifecycle.to_dict(),
        }
        if self.key is None:
            return doc
        # The key comes second in the canonical order, straight after schema_version.
        keyed: CaseFileDict = {"schema_version": self.schema_version, "key": self.key, **doc}
        return keyed

    @property
    def case_key(self) -> str:
        """The key, which every document in the register has (a file without one takes its name)."""
        if self.key is None:
            raise ValueError("the case document has no key")
        return self.key
