"""The canonical case-file document, typed: what ``casefile.normalise`` makes and
``casefile.dump_case_file`` writes, ``case_import`` reads and ``case_export`` makes again.

These ``TypedDict`` classes describe the document once (its shape is validated by
``casefile.schema.json`` and the checks in :mod:`statutory_clock.store.casefile` before anything
is typed as one), so that the modules on either side of the YAML edge agree on every field.
Every key is present in the canonical form, in this order, except where marked ``NotRequired``:
a document's ``key`` (a file may take it from its name) and, in an event, ``date`` or ``month``
(one of them) and ``recorded_by`` (only when someone is named). Dates are ``datetime.date``; a
value known only to the month is ``{"month": "YYYY-MM"}`` (:data:`DayOrMonth`), except in an
event, whose ``month`` key holds the text itself.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, NotRequired, TypedDict

from statutory_clock.vocabulary import CloseReason


class MonthDict(TypedDict):
    month: str  # YYYY-MM


# A day, or a month where the source gives only the month.
DayOrMonth = date | MonthDict


class LocalAuthorityDict(TypedDict):
    name: str
    dfe_code: str


class ContactDict(TypedDict):
    name: str
    role: str | None
    email: str | None
    phone: str | None
    escalation_to: str | None
    reminders: str  # "each" | "daily digest" (vocabulary.REMINDER_CHOICES)


class RecommendationDict(TypedDict):
    number: int
    text: str | None
    timescale: str | None
    theme: str | None


class ProgressDict(TypedDict):
    date: date | None
    note: str


class ActionDict(TypedDict):
    recommendation: int | None
    current_strategy: str | None
    required_outcome: str | None
    lead_officer: str | None
    key_tasks: str | None
    progress: list[ProgressDict]
    target_date: DayOrMonth | None
    status: str | None
    smt_lead: str | None


class EventDict(TypedDict):
    milestone: str
    date: NotRequired[date | None]  # or
    month: NotRequired[str]  # YYYY-MM
    note: str | None
    recorded_by: NotRequired[str]


class AdjustmentDict(TypedDict):
    milestone: str
    extended_to: date | None
    waived: bool
    reason: str
    agreed_by: str | None  # required in a file; the register may lack it for an older row


class InspectionDict(TypedDict):
    framework: str
    title: str | None
    notified: date | None
    fieldwork_start: date | None
    fieldwork_end: date | None
    published: DayOrMonth
    received: date | None
    judgements: dict[str, str]  # area -> grade, in the report's order
    lscb_review: str | None
    rounding: str
    recommendations: list[RecommendationDict]
    action_plan: list[ActionDict]
    events: list[EventDict]  # what happened
    planned: list[EventDict]  # what is planned (a visit's expected date)
    milestone_owners: dict[str, str]  # milestone or rule id -> contact name
    adjustments: list[AdjustmentDict]


class InterventionEntryDict(TypedDict):
    """One DfE intervention as a typed fact (the engine's InterventionFact)."""

    kind: Literal["direction", "improvement_notice"]
    date: date
    commissioner: bool  # it appoints a commissioner
    independent_chair: bool  # it names an independent chair of the improvement board
    note: str | None


class InterventionDict(TypedDict):
    direction: date | None  # a bare direction: with a commissioner and an independent chair
    commissioner: str | None  # names of people (the typed facts are in ``interventions``)
    independent_chair: str | None
    adviser: str | None
    reviews: str | None
    notes: str | None
    interventions: NotRequired[list[InterventionEntryDict]]  # only when there are some


# "from" is a Python keyword: the functional form is the only way to name the key.
CadenceChangeDict = TypedDict(
    "CadenceChangeDict", {"from": DayOrMonth | None, "cadence": str, "note": str | None}
)


class OtherReportingDict(TypedDict):
    body: str
    cadence: str | None
    note: str | None


class BoardDict(TypedDict):
    name: str | None
    chair: str | None
    cadence: str | None
    cadence_changes: list[CadenceChangeDict]
    meetings: list[DayOrMonth]
    other_reporting: list[OtherReportingDict]
    distribution: list[str]


class LifecycleDict(TypedDict):
    """A closed case's lifecycle (an open case's is null): all six keys."""

    state: Literal["closed"]
    reason: CloseReason
    closed_on: date
    by: str | None
    note: str | None
    superseded_by: str | None


class CaseFileDict(TypedDict):
    schema_version: int
    key: NotRequired[str]
    local_authority: LocalAuthorityDict
    contacts: list[ContactDict]
    inspection: InspectionDict
    intervention: InterventionDict | None
    board: BoardDict | None
    sources: list[dict[str, str | None]]
    notes: str | None
    lifecycle: LifecycleDict | None
