"""The board-pack snapshot: everything one pack shows, as typed frozen objects.

`assemble.build_snapshot` makes a :class:`Snapshot` from the register; `render` and `charts` draw
it; the archive keeps it as ``snapshot.json`` beside the PDF, so that a pack can be audited and
remade. The JSON is described by :class:`SnapshotDict` (a ``TypedDict``) and crosses into and out
of the objects only through :meth:`Snapshot.from_dict` and :meth:`Snapshot.to_dict`: inside,
dates are :class:`datetime.date` and the instant a pack was made a :class:`datetime.datetime`;
ISO text exists only in the JSON.

Schema 1. Reading is lenient only where archives written before a field existed lack it: a
milestone's ``party`` (then None, shown as "Not stated") and ``act_by`` (then None, not shown),
the headline's ``not_recorded_count``
(then counted from the milestones), the inspection's ``anchor`` (then its publication) and any
RAG count (then 0). Everything else is required; a snapshot without it, or of another schema, is
refused with ValueError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NotRequired, TypedDict, get_args

from statutory_clock.engine import AnchorKind, Party

# RAG_KEYS and RagCounts are re-exported: the pack's callers (charts, assemble) take them here.
from statutory_clock.vocabulary import RAG_KEYS as RAG_KEYS
from statutory_clock.vocabulary import STATES, MilestoneState, RagCountsDict
from statutory_clock.vocabulary import RagCounts as RagCounts

SCHEMA = 1
SUPPORTED_SCHEMAS = (SCHEMA,)
_STATUSES: frozenset[str] = frozenset(STATES)
_PARTIES: frozenset[str] = frozenset(get_args(Party))
_ANCHOR_KINDS: frozenset[str] = frozenset(get_args(AnchorKind))
_REQUIRED = ("council", "board", "period", "as_of", "generated_at", "version")


# -- the JSON, as archived -------------------------------------------------------------------------


class CouncilDict(TypedDict):
    name: str
    dfe_code: str


class BoardDict(TypedDict):
    name: str | None
    chair: str | None
    meeting_date: str | None
    cadence: str | None


class PeriodDict(TypedDict):
    start: str
    end: str
    label: str


class AnchorDict(TypedDict):
    date: str
    kind: str


class InspectionDict(TypedDict):
    framework: str
    title: str | None
    published: str
    received: str | None
    anchor: NotRequired[AnchorDict]
    judgements: dict[str, str]
    lscb_review: str | None


class JudgementRecordDict(TypedDict):
    published: str
    framework: str
    overall: str | None
    worst_area: NotRequired[str]  # only when there is no overall grade (ILACS from April 2026)


class NextDeadlineDict(TypedDict):
    id: str
    title: str
    due: str
    working_days_left: int


class HeadlineDict(TypedDict):
    next_deadline: NextDeadlineDict | None
    overdue_count: int
    missed_count: int
    met_count: int
    upcoming_count: int
    not_recorded_count: NotRequired[int]


class MilestoneDict(TypedDict):
    id: str
    title: str
    due: str
    window_start: str | None
    actual: str | None
    status: str
    party: NotRequired[str | None]
    rule: str
    source: str
    basis: str
    confidence: str
    kind: str
    owner: str | None
    reason: str | None
    act_by: NotRequired[str | None]


class ProgressDict(TypedDict):
    date: str | None
    note: str


class ActionDict(TypedDict):
    recommendation: int | None
    recommendation_text: str | None
    theme: str
    required_outcome: str | None
    lead_officer: str | None
    key_tasks: str | None
    progress: list[ProgressDict]
    target_date: str | None
    status: str | None
    smt_lead: str | None


class MovedDict(TypedDict):
    id: str
    title: str
    old_due: str
    new_due: str


class RagChangeDict(TypedDict):
    recommendation: int | None
    old: str | None
    new: str | None


class ChangesDict(TypedDict):
    previous_version_date: str | None
    new: list[str]
    moved: list[MovedDict]
    completed: list[str]
    rag_changes: list[RagChangeDict]


class VisitDict(TypedDict):
    id: str
    due: str
    actual: str | None
    findings: str | None


class InterventionDict(TypedDict):
    direction: str | None
    commissioner: str | None
    independent_chair: str | None
    adviser: str | None
    status_text: str


class RuleUsedDict(TypedDict):
    rule: str
    title: str
    source: str
    confidence: str
    notes: str


class SnapshotDict(TypedDict):
    """``snapshot.json``."""

    schema: int
    council: CouncilDict
    board: BoardDict
    period: PeriodDict
    as_of: str
    generated_at: str
    version: int
    inspection: InspectionDict
    judgement_history: list[JudgementRecordDict]
    headline: HeadlineDict
    milestones: list[MilestoneDict]
    next_90_days: list[MilestoneDict]
    overdue_and_missed: list[MilestoneDict]
    actions: list[ActionDict]
    rag_by_theme: dict[str, RagCountsDict]
    rag_totals: RagCountsDict
    changes_since_previous: ChangesDict
    monitoring_visits: list[VisitDict]
    intervention: InterventionDict | None
    rules_appendix: list[RuleUsedDict]


# -- at the edge ----------------------------------------------------------------------------------


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _maybe_day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _one_of(name: str, value: Any, allowed: frozenset[str]) -> Any:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


# -- the objects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Council:
    name: str
    dfe_code: str


@dataclass(frozen=True)
class Board:
    name: str | None
    chair: str | None
    meeting_date: date | None  # None: the monthly pack, no meeting on file
    cadence: str | None


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str  # the archive's key: "November 2017", "board 2017-12-14", "ad hoc ..."


@dataclass(frozen=True)
class Anchor:
    """The day the clock runs from: receipt of the report, or its publication."""

    date: date
    kind: AnchorKind


@dataclass(frozen=True)
class InspectionSummary:
    framework: str
    title: str | None
    published: date
    received: date | None
    anchor: Anchor
    judgements: Mapping[str, str]  # area -> grade
    lscb_review: str | None

    @classmethod
    def from_dict(cls, raw: InspectionDict) -> InspectionSummary:
        published = _day(raw["published"])
        anchor = raw.get("anchor")
        return cls(
            framework=raw["framework"],
            title=raw["title"],
            published=published,
            received=_maybe_day(raw["received"]),
            anchor=(
                Anchor(_day(anchor["date"]), _one_of("anchor.kind", anchor["kind"], _ANCHOR_KINDS))
                if anchor
                else Anchor(published, "publication")
            ),
            judgements=dict(raw["judgements"] or {}),
            lscb_review=raw["lscb_review"],
        )

    def to_dict(self) -> InspectionDict:
        return {
            "framework": self.framework,
            "title": self.title,
            "published": self.published.isoformat(),
            "received": _iso(self.received),
            "anchor": {"date": self.anchor.date.isoformat(), "kind": self.anchor.kind},
            "judgements": dict(self.judgements),
            "lscb_review": self.lscb_review,
        }


@dataclass(frozen=True)
class JudgementRecord:
    published: date
    framework: str
    overall: str | None
    # Without an overall grade (ILACS reports from April 2026 grade key judgements only): the
    # worst of the area grades, so the history still says how the council was judged.
    worst_area: str | None = None


@dataclass(frozen=True)
class NextDeadline:
    id: str
    title: str
    due: date
    working_days_left: int


@dataclass(frozen=True)
class Headline:
    next_deadline: NextDeadline | None  # the next statutory deadline, if any is ahead
    overdue_count: int
    missed_count: int
    met_count: int
    upcoming_count: int  # upcoming and due
    # Ofsted or DfE acts past their dates with none recorded: never counted as overdue.
    not_recorded_count: int


@dataclass(frozen=True)
class MilestoneRow:
    id: str
    title: str
    due: date  # effective: after any agreed extension
    window_start: date | None
    actual: date | None
    status: MilestoneState
    party: Party | None  # None only in an archive from before parties were recorded
    rule: str  # "framework.rule_id"
    source: str
    basis: str
    confidence: str
    kind: str
    owner: str | None
    reason: str | None  # why it was extended or waived
    # The last working day on or before ``due`` (None only in an archive from before it was
    # recorded): shown as "act by" when the due date is a weekend or a bank holiday.
    act_by: date | None = None

    @classmethod
    def from_dict(cls, raw: MilestoneDict) -> MilestoneRow:
        party = raw.get("party")
        return cls(
            id=raw["id"],
            title=raw["title"],
            due=_day(raw["due"]),
            window_start=_maybe_day(raw["window_start"]),
            actual=_maybe_day(raw["actual"]),
            status=_one_of("status", raw["status"], _STATUSES),
            party=None if party is None else _one_of("party", party, _PARTIES),
            rule=raw["rule"],
            source=raw["source"],
            basis=raw["basis"],
            confidence=raw["confidence"],
            kind=raw["kind"],
            owner=raw["owner"],
            reason=raw["reason"],
            act_by=_maybe_day(raw.get("act_by")),
        )

    def to_dict(self) -> MilestoneDict:
        return {
            "id": self.id,
            "title": self.title,
            "due": self.due.isoformat(),
            "window_start": _iso(self.window_start),
            "actual": _iso(self.actual),
            "status": self.status,
            "party": self.party,
            "rule": self.rule,
            "source": self.source,
            "basis": self.basis,
            "confidence": self.confidence,
            "kind": self.kind,
            "owner": self.owner,
            "reason": self.reason,
            "act_by": _iso(self.act_by),
        }


@dataclass(frozen=True)
class ProgressNote:
    date: date | None
    note: str


@dataclass(frozen=True)
class ActionRow:
    recommendation: int | None
    recommendation_text: str | None
    theme: str
    required_outcome: str | None
    lead_officer: str | None
    key_tasks: str | None
    progress: tuple[ProgressNote, ...]
    target_date: date | None
    status: str | None  # a RAG rating, or None: not rated
    smt_lead: str | None

    @classmethod
    def from_dict(cls, raw: ActionDict) -> ActionRow:
        return cls(
            recommendation=raw["recommendation"],
            recommendation_text=raw["recommendation_text"],
            theme=raw["theme"],
            required_outcome=raw["required_outcome"],
            lead_officer=raw["lead_officer"],
            key_tasks=raw["key_tasks"],
            progress=tuple(ProgressNote(_maybe_day(p["date"]), p["note"]) for p in raw["progress"]),
            target_date=_maybe_day(raw["target_date"]),
            status=raw["status"],
            smt_lead=raw["smt_lead"],
        )

    def to_dict(self) -> ActionDict:
        return {
            "recommendation": self.recommendation,
            "recommendation_text": self.recommendation_text,
            "theme": self.theme,
            "required_outcome": self.required_outcome,
            "lead_officer": self.lead_officer,
            "key_tasks": self.key_tasks,
            "progress": [{"date": _iso(p.date), "note": p.note} for p in self.progress],
            "target_date": _iso(self.target_date),
            "status": self.status,
            "smt_lead": self.smt_lead,
        }


@dataclass(frozen=True)
class MovedMilestone:
    id: str
    title: str
    old_due: date
    new_due: date


@dataclass(frozen=True)
class RagChange:
    recommendation: int | None
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Changes:
    """What changed since the previous pack of the case (all empty for a first pack)."""

    previous_version_date: date | None  # the previous pack's as-of day; None: a first pack
    new: tuple[str, ...]  # titles of milestones the previous pack did not have
    moved: tuple[MovedMilestone, ...]
    completed: tuple[str, ...]  # titles of milestones done since
    rag_changes: tuple[RagChange, ...]

    @classmethod
    def none(cls) -> Changes:
        return cls(None, (), (), (), ())

    @classmethod
    def from_dict(cls, raw: ChangesDict) -> Changes:
        return cls(
            previous_version_date=_maybe_day(raw["previous_version_date"]),
            new=tuple(raw["new"]),
            moved=tuple(
                MovedMilestone(m["id"], m["title"], _day(m["old_due"]), _day(m["new_due"]))
                for m in raw["moved"]
            ),
            completed=tuple(raw["completed"]),
            rag_changes=tuple(
                RagChange(c["recommendation"], c["old"], c["new"]) for c in raw["rag_changes"]
            ),
        )

    def to_dict(self) -> ChangesDict:
        return {
            "previous_version_date": _iso(self.previous_version_date),
            "new": list(self.new),
            "moved": [
                {
                    "id": m.id,
                    "title": m.title,
                    "old_due": m.old_due.isoformat(),
                    "new_due": m.new_due.isoformat(),
                }
                for m in self.moved
            ],
            "completed": list(self.completed),
            "rag_changes": [
                {"recommendation": c.recommendation, "old": c.old, "new": c.new}
                for c in self.rag_changes
            ],
        }


@dataclass(frozen=True)
class MonitoringVisit:
    id: str
    due: date
    actual: date | None
    findings: str | None


@dataclass(frozen=True)
class Intervention:
    direction: date | None
    commissioner: str | None
    independent_chair: str | None
    adviser: str | None
    status_text: str


@dataclass(frozen=True)
class RuleUsed:
    rule: str
    title: str
    source: str
    confidence: str
    notes: str


@dataclass(frozen=True)
class Snapshot:
    """One pack's content, as of ``as_of``; the renderer draws nothing it does not hold."""

    council: Council
    board: Board
    period: Period
    as_of: date
    generated_at: datetime
    version: int
    inspection: InspectionSummary
    judgement_history: tuple[JudgementRecord, ...]
    headline: Headline
    milestones: tuple[MilestoneRow, ...]
    next_90_days: tuple[MilestoneRow, ...]
    overdue_and_missed: tuple[MilestoneRow, ...]
    actions: tuple[ActionRow, ...]
    rag_by_theme: Mapping[str, RagCounts]
    rag_totals: RagCounts
    changes_since_previous: Changes
    monitoring_visits: tuple[MonitoringVisit, ...]
    intervention: Intervention | None
    rules_appendix: tuple[RuleUsed, ...]
    schema: int = SCHEMA

    @classmethod
    def from_dict(cls, raw: SnapshotDict) -> Snapshot:
        """The snapshot a JSON document describes (``snapshot.json``, the test fixture).

        Raises ValueError for another schema, a missing required key or a malformed value.
        """
        schema = raw.get("schema")
        if schema not in SUPPORTED_SCHEMAS:
            raise ValueError(f"snapshot schema {schema!r} is not supported (expected 1)")
        missing = [key for key in _REQUIRED if key not in raw]
        if missing:
            raise ValueError(f"snapshot is missing required keys: {', '.join(missing)}")
        try:
            return cls._from_dict(raw)
        except KeyError as error:
            raise ValueError(f"snapshot: a required key is missing: {error}") from None
        except (TypeError, AttributeError) as error:
            raise ValueError(f"snapshot: {error}") from None

    @classmethod
    def _from_dict(cls, raw: SnapshotDict) -> Snapshot:
        council, board, period = raw["council"], raw["board"], raw["period"]
        headline = raw["headline"]
        deadline = headline["next_deadline"]
        milestones = tuple(MilestoneRow.from_dict(m) for m in raw["milestones"])
        not_recorded = headline.get("not_recorded_count")
        if not_recorded is None:
            not_recorded = sum(1 for m in milestones if m.status == "not_recorded")
        intervention = raw["intervention"]
        return cls(
            schema=raw["schema"],
            council=Council(council["name"], council["dfe_code"]),
            board=Board(
                board["name"], board["chair"], _maybe_day(board["meeting_date"]), board["cadence"]
            ),
            period=Period(_day(period["start"]), _day(period["end"]), period["label"]),
            as_of=_day(raw["as_of"]),
            generated_at=datetime.fromisoformat(raw["generated_at"]),
            version=int(raw["version"]),
            inspection=InspectionSummary.from_dict(raw["inspection"]),
            judgement_history=tuple(
                JudgementRecord(
                    _day(j["published"]), j["framework"], j["overall"], j.get("worst_area")
                )
                for j in raw["judgement_history"]
            ),
            headline=Headline(
                next_deadline=(
                    NextDeadline(
                        deadline["id"],
                        deadline["title"],
                        _day(deadline["due"]),
                        int(deadline["working_days_left"]),
                    )
                    if deadline
                    else None
                ),
                overdue_count=int(headline["overdue_count"]),
                missed_count=int(headline["missed_count"]),
                met_count=int(headline["met_count"]),
                upcoming_count=int(headline["upcoming_count"]),
                not_recorded_count=int(not_recorded),
            ),
            milestones=milestones,
            next_90_days=tuple(MilestoneRow.from_dict(m) for m in raw["next_90_days"]),
            overdue_and_missed=tuple(MilestoneRow.from_dict(m) for m in raw["overdue_and_missed"]),
            actions=tuple(ActionRow.from_dict(a) for a in raw["actions"]),
            rag_by_theme={
                theme: RagCounts.from_dict(counts) for theme, counts in raw["rag_by_theme"].items()
            },
            rag_totals=RagCounts.from_dict(raw["rag_totals"]),
            changes_since_previous=Changes.from_dict(raw["changes_since_previous"]),
            monitoring_visits=tuple(
                MonitoringVisit(v["id"], _day(v["due"]), _maybe_day(v["actual"]), v["findings"])
                for v in raw["monitoring_visits"]
            ),
            intervention=(
                Intervention(
                    _maybe_day(intervention["direction"]),
                    intervention["commissioner"],
                    intervention["independent_chair"],
                    intervention["adviser"],
                    intervention["status_text"],
                )
                if intervention
                else None
            ),
            rules_appendix=tuple(
                RuleUsed(r["rule"], r["title"], r["source"], r["confidence"], r["notes"])
                for r in raw["rules_appendix"]
            ),
        )

    def to_dict(self) -> SnapshotDict:
        """The JSON document, as the archive keeps it (dates as ISO text)."""
        deadline = self.headline.next_deadline
        intervention = self.intervention
        return {
            "schema": self.schema,
            "council": {"name": self.council.name, "dfe_code": self.council.dfe_code},
            "board": {
                "name": self.board.name,
                "chair": self.board.chair,
                "meeting_date": _iso(self.board.meeting_date),
                "cadence": self.board.cadence,
            },
            "period": {
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
                "label": self.period.label,
            },
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "version": self.version,
            "inspection": self.inspection.to_dict(),
            "judgement_history": [_judgement_dict(j) for j in self.judgement_history],
            "headline": {
                "next_deadline": (
                    {
                        "id": deadline.id,
                        "title": deadline.title,
                        "due": deadline.due.isoformat(),
                        "working_days_left": deadline.working_days_left,
                    }
                    if deadline
                    else None
                ),
                "overdue_count": self.headline.overdue_count,
                "missed_count": self.headline.missed_count,
                "met_count": self.headline.met_count,
                "upcoming_count": self.headline.upcoming_count,
                "not_recorded_count": self.headline.not_recorded_count,
            },
            "milestones": [m.to_dict() for m in self.milestones],
            "next_90_days": [m.to_dict() for m in self.next_90_days],
            "overdue_and_missed": [m.to_dict() for m in self.overdue_and_missed],
            "actions": [a.to_dict() for a in self.actions],
            "rag_by_theme": {theme: c.to_dict() for theme, c in self.rag_by_theme.items()},
            "rag_totals": self.rag_totals.to_dict(),
            "changes_since_previous": self.changes_since_previous.to_dict(),
            "monitoring_visits": [
                {
                    "id": v.id,
                    "due": v.due.isoformat(),
                    "actual": _iso(v.actual),
                    "findings": v.findings,
                }
                for v in self.monitoring_visits
            ],
            "intervention": (
                {
                    "direction": _iso(intervention.direction),
                    "commissioner": intervention.commissioner,
                    "independent_chair": intervention.independent_chair,
                    "adviser": intervention.adviser,
                    "status_text": intervention.status_text,
                }
                if intervention
                else None
            ),
            "rules_appendix": [
                {
                    "rule": r.rule,
                    "title": r.title,
                    "source": r.source,
                    "confidence": r.confidence,
                    "notes": r.notes,
                }
                for r in self.rules_appendix
            ],
        }

    def to_json(self) -> str:
        """``snapshot.json`` as the archive writes it: keys sorted, two-space indent, UTF-8 text
        kept as it is (the test fixture is this text and a final newline)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        loaded: SnapshotDict = json.loads(text)
        return cls.from_dict(loaded)


def _judgement_dict(record: JudgementRecord) -> JudgementRecordDict:
    out: JudgementRecordDict = {
        "published": record.published.isoformat(),
        "framework": record.framework,
        "overall": record.overall,
    }
    if record.worst_area is not None:  # absent otherwise: archived snapshots keep their bytes
        out["worst_area"] = record.worst_area
    return out
