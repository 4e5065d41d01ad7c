"""From the facts of an inspection to every statutory and regulatory milestone.

Pure and deterministic: no clock, no database, no network. Whatever depends on "today" takes an
explicit ``as_of`` date. Every milestone carries the rule it came from, the rule's legal source
and a one-line basis a person can check by hand ("70 working days after 2017-09-04
(publication)"); a date the engine cannot justify that way is a bug.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import gc
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any, Literal, NamedTuple

from statutory_clock import plausibility
from statutory_clock.calendar import WorkingDayCalendar, default_calendar
from statutory_clock.case_facts import CaseFacts as CaseFacts  # re-exported: the engine's input
from statutory_clock.case_facts import FactsError as FactsError
from statutory_clock.case_facts import InterventionFact as InterventionFact
from statutory_clock.case_facts import Recommendation as Recommendation
from statutory_clock.dates import long_date
from statutory_clock.rules import (
    FRAMEWORKS,
    INTERVENTION,
    RecommendationPolicy,
    Roll,
    Rule,
    Rulebook,
    RulebookError,
    Unit,
    load_recommendation_policy,
    load_rulebooks,
)
from statutory_clock.rules import Party as Party  # re-exported: whose act a milestone is

AnchorKind = Literal["receipt", "publication"]
Status = Literal["upcoming", "due", "overdue", "met", "missed", "waived", "not_recorded"]
# The rounding policies this engine knows how to apply; recommendations.yaml names the default
# and may offer only these (checked when a builder is made).
_IMPLEMENTED_ROUNDING = frozenset({"end_of_month", "exact"})
# A milestone is "due" (rather than "upcoming") from its window opening, or this many working
# days before its due date when it has no window.
DUE_SOON_WORKING_DAYS = 5
# A recurring series never runs away, even if a rulebook's stop condition is mistyped.
MAX_OCCURRENCES = 40


class Milestone(NamedTuple):
    """One computed deadline. A NamedTuple rather than a frozen dataclass: clocks are built in
    bulk (the whole portfolio every working day) and this is ~5x cheaper to construct."""

    id: str
    title: str
    due: date  # the last permitted day (a window's end)
    window_start: date | None
    rule: str  # e.g. "sif.written_statement_of_action"
    source: str  # the legal or regulatory citation
    basis: str  # one line a person can check by hand
    confidence: str
    kind: str  # statutory | regulatory | practice
    actual: date | None = None  # when it actually happened, if recorded
    party: Party = "council"  # whose act it is (see milestone_status)
    # The last working day on or before ``due``: ``due`` itself when that is a working day. The
    # engine always sets it; None only in a milestone built elsewhere (e.g. a status probe).
    act_by: date | None = None

    def contract_dict(self) -> dict[str, Any]:
        """The ``statclock clock --format json`` shape (see docs/architecture)."""
        return {
            "id": self.id,
            "title": self.title,
            "due": self.due.isoformat(),
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "rule": self.rule,
            "source": self.source,
            "basis": self.basis,
            "party": self.party,  # an addition to the contract (docs/architecture.md)
            # an addition to the contract: the day to act by when ``due`` is not a working day
            "act_by": (self.act_by or self.due).isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Clock:
    anchor_date: date
    anchor_kind: AnchorKind
    milestones: tuple[Milestone, ...]
    # Unusual but possible facts, one line each (see statutory_clock.plausibility).
    warnings: tuple[str, ...] = ()

    def by_id(self) -> dict[str, Milestone]:
        return {m.id: m for m in self.milestones}


# -- date arithmetic ------------------------------------------------------------------------


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(day: date, months: int) -> date:
    """Same day of the month ``months`` later, clamped to the month's end (31 Aug + 6 = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if day.day <= 28:
        return date(year, month, day.day)
    last = 29 if month == 2 and _stdlib_calendar.isleap(year) else _DAYS_IN_MONTH[month - 1]
    return date(year, month, min(day.day, last))


def end_of_month(day: date) -> date:
    return date(day.year, day.month, _stdlib_calendar.monthrange(day.year, day.month)[1])


_UNIT_WORDS = {
    "working_days": ("working day", "working days"),
    "calendar_days": ("calendar day", "calendar days"),
    "weeks": ("week", "weeks"),
    "months": ("calendar month", "calendar months"),
}


def _amount(offset: int, unit: Unit) -> str:
    singular, plural = _UNIT_WORDS[unit]
    return f"{abs(offset)} {singular if abs(offset) == 1 else plural}"


@cache
def _offset_phrase(offset: int, unit: Unit, window_start_offset: int | None) -> str:
    """The fixed part of a basis line, e.g. "between 25 and 35 working days after "."""
    direction = "before" if offset < 0 else "after"
    if window_start_offset == 0:
        amount = f"within {_amount(offset, unit)}"
    elif window_start_offset is not None and window_start_offset != offset:
        amount = f"between {abs(window_start_offset)} and {_amount(offset, unit)}"
    else:
        amount = _amount(offset, unit)
    return f"{amount} {direction} "


@cache
def _roll_note(lead: str, raw: date, shown: date, roll: Roll) -> str:
    """How a forecast moved off a non-working day, for its basis line, e.g. " = Sunday 8 April
    2018, a non-working day, so Monday 9 April 2018 (rolled forward)"."""
    why = "a bank holiday" if raw.weekday() < 5 else "a non-working day"
    return f"{lead}{long_date(raw)}, {why}, so {long_date(shown)} (rolled {roll})"


# -- the computation ------------------------------------------------------------------------


def _applies(
    rule: Rule, judgements: Mapping[str, str], intervention: InterventionFact | None = None
) -> bool:
    wanted = rule.intervention
    if wanted is not None and (
        intervention is None
        or (wanted.kinds is not None and intervention.kind not in wanted.kinds)
        or (wanted.commissioner is not None and intervention.commissioner != wanted.commissioner)
        or (
            wanted.independent_chair is not None
            and intervention.independent_chair != wanted.independent_chair
        )
    ):
        return False
    if rule.judgements is None:
        return True
    grades = (
        judgements.values()
        if rule.areas is None
        else [g for area, g in judgements.items() if area in rule.areas]
    )
    if rule.match_all:  # every graded area qualifies (and at least one is graded)
        return bool(grades) and all(g in rule.judgements for g in grades)
    return any(g in rule.judgements for g in grades)


@dataclass(frozen=True, slots=True)
class _Step:
    """A rule prepared for fast repeated use: anchors parsed and basis phrases made once."""

    rule: Rule
    anchor_kind: str  # report | publication | receipt | direction | milestone | deadline | each
    targets: tuple[str, ...]
    phrase: str  # fixed part of the basis line of the first (or only) occurrence
    window_phrase_offset: int | None
    recur_phrase: str
    series: tuple[tuple[int, str, str], ...]  # (number, id, title) of each possible occurrence
    move: Callable[[date, int], date]  # date arithmetic in the rule's unit
    recur_move: Callable[[date, int], date] | None


def _mover(cal: WorkingDayCalendar, unit: Unit) -> Callable[[date, int], date]:
    if unit == "working_days":
        return cal.add_working_days
    if unit == "months":
        return add_months
    days_per = 7 if unit == "weeks" else 1
    return lambda day, n: day + timedelta(days=days_per * n)


def _prepare(rule: Rule, cal: WorkingDayCalendar) -> _Step:
    kind, _, targets = rule.anchor.partition(":")
    recur_phrase = ""
    series: tuple[tuple[int, str, str], ...] = ()
    if rule.recurrence is not None:
        recur_phrase = _offset_phrase(rule.recurrence.every, rule.recurrence.unit, None)
        first = rule.recurrence.first_number
        series = tuple(
            (n, rule.recurrence.id_format.format(n=n), f"{rule.title} ({n})")
            for n in range(first, first + MAX_OCCURRENCES)
        )
    return _Step(
        rule=rule,
        anchor_kind=kind,
        targets=tuple(targets.split(",")) if targets else (),
        phrase=_offset_phrase(rule.offset, rule.unit, rule.window_start_offset),
        window_phrase_offset=rule.window_start_offset,
        recur_phrase=recur_phrase,
        series=series,
        move=_mover(cal, rule.unit),
        recur_move=_mover(cal, rule.recurrence.unit) if rule.recurrence else None,
    )


class ClockBuilder:
    """Computes clocks for many cases with one calendar and one set of rulebooks.

    Which rules apply depends only on the framework, the judgements, which rule versions are in
    force and whether there is a direction, so the prepared list is cached on those.
    """

    def __init__(
        self,
        calendar: WorkingDayCalendar | None = None,
        rulebooks: Mapping[str, Rulebook] | None = None,
        recommendation_policy: RecommendationPolicy | None = None,
    ) -> None:
        self.calendar = calendar or default_calendar()
        self.rulebooks = rulebooks or load_rulebooks()
        self.recommendations = recommendation_policy or load_recommendation_policy()
        unknown = set(self.recommendations.rounding_policies) - _IMPLEMENTED_ROUNDING
        if unknown:
            raise RulebookError(
                f"recommendations.yaml, field rounding.policies: {sorted(unknown)} "
                f"not implemented by the engine ({', '.join(sorted(_IMPLEMENTED_ROUNDING))})"
            )
        self._plans: dict[tuple[Any, ...], tuple[_Step, ...]] = {}
        self._boundaries: dict[str, list[date]] = {}
        # day -> the working day it rolls to (forward, backward): a portfolio's dates repeat, and
        # a dict lookup is several times cheaper than the calendar's search (the calendar of a
        # builder never changes).
        self._forward: dict[date, date] = {}
        self._backward: dict[date, date] = {}

    # -- validation --------------------------------------------------------------------------
    def check(self, facts: CaseFacts, rounding: str | None = None) -> Rulebook:
        """Reject facts the rules cannot be applied to, naming the field and value."""
        if facts.framework not in FRAMEWORKS:
            raise FactsError("framework", facts.framework, f"is not one of {', '.join(FRAMEWORKS)}")
        book = self.rulebooks[facts.framework]
        if not book.in_force(facts.published):
            until = book.valid_to.isoformat() if book.valid_to else "now"
            raise FactsError(
                "published",
                facts.published.isoformat(),
                f"is outside the {facts.framework} framework's period "
                f"({book.valid_from.isoformat()} to {until})",
            )
        for area, grade in facts.judgements.items():
            self.check_area(book, facts.published, area, grade)
            if grade not in book.judgement_scale:
                scale = ", ".join(book.judgement_scale) or "none: this framework gives no grades"
                raise FactsError(
                    f"judgement {area}", grade, f"is not on the {facts.framework} scale ({scale})"
                )
        policies = self.recommendations.rounding_policies
        if rounding is not None and rounding not in policies:
            raise FactsError("rounding", rounding, f"is not one of {', '.join(policies)}")
        for rec in facts.recommendations:
            if rec.timescale and self.recommendations.timescale_for(rec.timescale) is None:
                known = ", ".join(t.label for t in self.recommendations.timescales.values())
                raise FactsError(
                    f"recommendation {rec.number} timescale",
                    rec.timescale,
                    f"is not a known timescale ({known})",
                )
        refused = plausibility.refusal(facts, (book, self.rulebooks[INTERVENTION]))
        if refused is not None:
            raise FactsError(*refused)
        return book

    @staticmethod
    def check_area(book: Rulebook, published: date, area: str, grade: str) -> None:
        """When the rulebook lists its areas, a judgement names one in force on ``published``
        (e.g. no overall grade for an ILACS report published from 1 April 2026)."""
        if not book.areas:
            return
        known = book.areas.get(area)
        if known is not None and known.in_force(published):
            return
        current = ", ".join(a.id for a in book.areas.values() if a.in_force(published))
        if known is None:
            raise FactsError(
                f"judgement {area}",
                area,
                f"is not an area the {book.short_label} framework judges (its areas: {current})",
            )
        when = (
            f"published from {known.valid_to.day} {known.valid_to:%B %Y}"
            if known.valid_to is not None and published >= known.valid_to
            else f"published before {(known.valid_from or published):%d %B %Y}"
        )
        raise FactsError(
            f"judgement {area}",
            grade,
            f"is not given for {book.short_label} reports {when} ({known.label.lower()} "
            f"is not judged): give the areas instead: {current}",
        )

    def _period(self, book: Rulebook, day: date) -> int:
        """Which stretch between the book's rule-version boundaries ``day`` falls in."""
        boundaries = self._boundaries.get(book.framework)
        if boundaries is None:
            edges = {r.valid_from for r in book.rules} | {
                r.valid_to for r in book.rules if r.valid_to
            }
            boundaries = self._boundaries[book.framework] = sorted(edges)
        return bisect_right(boundaries, day)

    def _plan(
        self, book: Rulebook, facts: CaseFacts, current: InterventionFact | None
    ) -> tuple[_Step, ...]:
        intervention = self.rulebooks[INTERVENTION]
        intervention_key = (
            None
            if current is None
            else (
                current.kind,
                current.commissioner,
                current.independent_chair,
                self._period(intervention, current.on),
            )
        )
        key = (
            book.framework,
            self._period(book, facts.published),
            intervention_key,
            tuple(sorted(facts.judgements.items())),
        )
        plan = self._plans.get(key)
        if plan is None:
            in_force = [r.in_force(facts.published) for r in book.rules]
            chosen = [
                r
                for r, ok in zip(book.rules, in_force, strict=True)
                if ok and _applies(r, facts.judgements, current)
            ]
            if current is not None:
                chosen += [
                    r
                    for r in intervention.rules
                    if r.in_force(current.on) and _applies(r, facts.judgements, current)
                ]
            plan = self._plans[key] = tuple(_prepare(r, self.calendar) for r in chosen)
        return plan

    # -- computation -------------------------------------------------------------------------
    def compute(
        self, facts: CaseFacts, rounding: str | None = None, *, strict_events: bool = True
    ) -> Clock:
        """The clock of one inspection.

        With ``strict_events`` an event naming no milestone of the clock is an error (a typo on
        the command line); the case register passes False, because a recorded fact such as a
        DfE review with no direction date on file must be kept, not rejected. ``rounding`` None
        means the default of ``recommendations.yaml``.
        """
        book = self.check(facts, rounding)
        rounding = rounding or self.recommendations.default_rounding
        anchor_kind: AnchorKind = "receipt" if facts.received else "publication"
        report_day = facts.received or facts.published
        events = facts.events
        due: dict[str, date] = {}  # every milestone so far, for rules that anchor on it
        # The same before an Ofsted or DfE forecast was rolled off a non-working day: a cadence
        # counts from it, so that rolling never feeds into the next date (no drift).
        computed: dict[str, date] = {}
        produced: dict[str, list[str]] = {}  # rule id -> milestone ids it produced
        milestones: list[Milestone] = []
        current = facts.intervention_in_force()

        def anchor_on(
            target: str, deadline_only: bool, as_shown: bool = False
        ) -> tuple[date, str] | None:
            if target not in due:
                return None
            if deadline_only:
                return computed[target], f"{target}, deadline"
            if target in events:
                return events[target], f"{target}, actual"
            if as_shown or computed[target] == due[target]:
                return due[target], f"{target}, forecast"
            return computed[target], f"{target}, forecast before rolling"

        for step in self._plan(book, facts, current):
            rule, kind = step.rule, step.anchor_kind
            anchors: list[tuple[str, date, str]]
            if kind == "report":
                anchors = [("", report_day, anchor_kind)]
            elif kind == "publication":
                anchors = [("", facts.published, "publication")]
            elif kind == "receipt":
                anchors = [("", facts.received, "receipt")] if facts.received else []
            elif kind in ("direction", "intervention"):  # the intervention in force
                anchors = [("", current.on, current.label)] if current else []
            elif kind == "each":  # one milestone per milestone those rules produced
                ids = [mid for rid in step.targets for mid in produced.get(rid, ())]
                anchors = []
                for number, mid in enumerate(ids, start=1):
                    # A preparation for an act (audits before a visit) counts from the day the
                    # act is forecast, after any rolling.
                    found = anchor_on(mid, False, True)
                    if found:
                        anchors.append((f"_{number}", found[0], found[1]))
            else:
                found = anchor_on(step.targets[0], kind == "deadline")
                anchors = [("", found[0], found[1])] if found else []

            made: list[Milestone] = []
            for suffix, anchor, label in anchors:
                if rule.recurrence is None:
                    made.append(
                        self._milestone(
                            step, rule.id + suffix, rule.title, anchor, label, events, computed
                        )
                    )
                else:
                    made.extend(self._series(step, anchor, label, events, anchor_on, computed))
            if rule.local_override:  # an operator's overlay changed this rule: say so
                made = [m._replace(basis=f"{m.basis} ({rule.local_override})") for m in made]
            ids_made = produced.setdefault(rule.id, [])
            for m in made:
                due[m.id] = m.due
                ids_made.append(m.id)
            milestones.extend(made)

        milestones.extend(self._recommendation_milestones(facts, rounding))
        if events and strict_events:
            known = {m.id for m in milestones}
            for event in events:
                if event not in known:
                    raise FactsError(
                        f"event {event}",
                        events[event].isoformat(),
                        "names no milestone of this case's clock",
                    )
        milestones.sort(key=_sort_key)
        warnings = plausibility.warnings(facts, self.calendar)
        return Clock(report_day, anchor_kind, tuple(milestones), warnings)

    def compute_many(self, cases: Iterable[CaseFacts], rounding: str | None = None) -> list[Clock]:
        """Clocks for a whole portfolio.

        The cyclic garbage collector is paused meanwhile: the clocks are acyclic tuples, and
        collector passes over tens of thousands of fresh objects would otherwise cost a quarter
        of the time.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return [self.compute(facts, rounding) for facts in cases]
        finally:
            if was_enabled:
                gc.enable()

    def _series(
        self,
        step: _Step,
        anchor: date,
        label: str,
        events: Mapping[str, date],
        anchor_on: Any,
        computed: dict[str, date],
    ) -> list[Milestone]:
        rule = step.rule
        recurrence = rule.recurrence
        assert recurrence is not None and step.recur_move is not None
        if recurrence.until:
            stop = anchor_on(recurrence.until.removeprefix("milestone:"), False)
            if stop is None:
                return []
            limit = stop[0]
        else:
            assert recurrence.horizon_months is not None
            limit = add_months(anchor, recurrence.horizon_months)
        # No drift: the kth occurrence is the cycle's anchor plus the whole interval in one step
        # (clamped to the month's end once: 30 Nov + 3 months = 29 Feb, + 6 months = 30 May),
        # never the previous clamped or rolled forecast plus one period. An actual date restarts
        # the count from itself. When the first interval is in another unit than the cadence,
        # the cadence counts from the first occurrence (before any rolling).
        every = recurrence.every
        move, unit, lead, k = step.move, rule.unit, rule.offset, 0
        made = []
        for _number, mid, title in step.series:
            amount = lead + k * every
            raw = move(anchor, amount)
            actual = events.get(mid)
            if actual is None and raw > limit:
                break
            due = raw
            basis = f"{_offset_phrase(amount, unit, None)}{anchor.isoformat()} ({label})"
            if rule.roll is not None:
                due = self._rolled(rule.roll, raw)
                if due != raw:
                    basis += _roll_note(" = ", raw, due, rule.roll)
            computed[mid] = raw
            made.append(
                Milestone(
                    mid,
                    title,
                    due,
                    None,
                    rule.ref,
                    rule.source,
                    basis,
                    rule.confidence,
                    rule.kind,
                    actual,
                    rule.party,
                    self._act_by(due),
                )
            )
            if actual is not None:
                anchor, label, lead, k = actual, f"{mid}, actual", 0, 1
                move, unit = step.recur_move, recurrence.unit
            elif k == 0 and rule.unit != recurrence.unit:
                rolled = " before rolling" if due != raw else ""
                anchor, label, lead, k = raw, f"{mid}, forecast{rolled}", 0, 1
                move, unit = step.recur_move, recurrence.unit
            else:
                k += 1
        return made

    def _rolled(self, roll: Roll, day: date) -> date:
        """``day`` moved to a working day in the rule's direction (itself if it is one)."""
        if roll == "forward":
            found = self._forward.get(day)
            if found is None:
                found = self._forward[day] = self.calendar.working_day_on_or_after(day)
            return found
        return self._act_by(day)

    def _act_by(self, due: date) -> date:
        """The last working day on or before ``due``."""
        found = self._backward.get(due)
        if found is None:
            found = self._backward[due] = self.calendar.working_day_on_or_before(due)
        return found

    def _milestone(
        self,
        step: _Step,
        mid: str,
        title: str,
        anchor: date,
        label: str,
        events: Mapping[str, date],
        computed: dict[str, date],
    ) -> Milestone:
        rule = step.rule
        due = computed[mid] = step.move(anchor, rule.offset)
        basis = f"{step.phrase}{anchor.isoformat()} ({label})"
        window_start = None
        if rule.window_start_offset is not None:
            window_start = (
                anchor + timedelta(days=1)
                if rule.window_start_offset == 0
                else step.move(anchor, rule.window_start_offset)
            )
        if rule.roll is not None:  # an Ofsted or DfE forecast: never on a non-working day
            raw, due = due, self._rolled(rule.roll, due)
            if due != raw:
                # "within N ... = ..." reads as the last day; "between A and B" needs saying
                lead = " = " if not rule.window_start_offset else "; window ends "
                basis += _roll_note(lead, raw, due, rule.roll)
            # A window opens on its first working day, whichever way its end rolls (so a window
            # rolled backward shrinks to the working days inside it), and never after its end.
            if window_start is not None:
                opens = min(self._rolled("forward", window_start), due)
                if opens != window_start:
                    basis += _roll_note("; window opens ", window_start, opens, "forward")
                    window_start = opens
        # Positional: this is the hot path of a portfolio recompute.
        return Milestone(
            mid,
            title,
            due,
            window_start,
            rule.ref,
            rule.source,
            basis,
            rule.confidence,
            rule.kind,
            events.get(mid),
            rule.party,
            self._act_by(due),
        )

    def _recommendation_milestones(self, facts: CaseFacts, rounding: str) -> Iterator[Milestone]:
        policy = self.recommendations
        for rec in facts.recommendations:
            timescale = policy.timescale_for(rec.timescale) if rec.timescale else None
            if timescale is None:
                continue
            exact = add_months(facts.published, timescale.months)
            if timescale.months:
                basis = f"{timescale.label} of {facts.published.isoformat()} (publication)"
            else:
                basis = f"{timescale.label} from {facts.published.isoformat()} (publication)"
            due = exact
            if timescale.months and rounding == "end_of_month":
                due = end_of_month(exact)
                basis += (
                    f" = {exact.isoformat()}, rounded to the end of the month (policy {rounding})"
                )
            mid = f"recommendation_{rec.number}"
            yield Milestone(
                id=mid,
                title=f"Recommendation {rec.number}: {timescale.label.lower()}"
                + (f": {rec.text}" if rec.text else ""),
                due=due,
                window_start=None,
                rule=f"recommendations.{timescale.key}",
                source=policy.source,
                basis=basis,
                confidence=policy.confidence,
                kind="regulatory",
                actual=facts.events.get(mid),
                party="council",  # the council's action plan answers its recommendations
                act_by=self._act_by(due),
            )


def _sort_key(m: Milestone) -> tuple[date, str]:
    return m.due, m.id


def compute_clock(
    facts: CaseFacts, rounding: str | None = None, calendar: WorkingDayCalendar | None = None
) -> Clock:
    """The full clock of one inspection with the bundled rulebooks and calendar."""
    return _default_builder(calendar).compute(facts, rounding)


@cache
def _bundled_builder() -> ClockBuilder:
    return ClockBuilder()


def _default_builder(calendar: WorkingDayCalendar | None) -> ClockBuilder:
    if calendar is not None:
        return ClockBuilder(calendar=calendar)
    builder = _bundled_builder()
    if builder.rulebooks is not load_rulebooks():  # a rules overlay set, changed or unset
        _bundled_builder.cache_clear()
        builder = _bundled_builder()
    return builder


def milestone_status(
    milestone: Milestone,
    as_of: date,
    *,
    waived: bool = False,
    calendar: WorkingDayCalendar | None = None,
) -> Status:
    """Where a milestone stands on ``as_of``.

    met / missed: it happened on or before / after its due date. overdue: the council's own
    duty, not yet done, and ``as_of`` is past the due date. not_recorded: the same for an Ofsted
    or DfE act (a visit, a review): it almost certainly happened, and nobody has recorded when;
    a prompt to record it, never the council's overdue item. due: its window is open, or it
    falls within the next DUE_SOON_WORKING_DAYS working days. upcoming: otherwise. waived: an
    agreed waiver.
    """
    if waived:
        return "waived"
    if milestone.actual is not None:
        return "met" if milestone.actual <= milestone.due else "missed"
    if as_of > milestone.due:
        return "overdue" if milestone.party == "council" else "not_recorded"
    if milestone.window_start is not None and as_of >= milestone.window_start:
        return "due"
    cal = calendar or default_calendar()
    if cal.working_days_between(as_of, milestone.due) <= DUE_SOON_WORKING_DAYS:
        return "due"
    return "upcoming"
