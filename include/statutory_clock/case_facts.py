"""The facts of an inspection, as the engine takes them: what is known about one case and what
has happened since, typed and frozen. Its own module so that the checks on facts
(``plausibility``) and the engine that computes from them both stand on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from statutory_clock.rules import INTERVENTION_KINDS, InterventionKind


class FactsError(ValueError):
    """Case facts the engine cannot use. ``field`` and ``value`` name what is wrong."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field}: {value!r} {problem}")


@dataclass(frozen=True, slots=True)
class Recommendation:
    number: int
    timescale: str | None = None  # a key ("within_three_months") or the report's phrase
    text: str = ""


@dataclass(frozen=True, slots=True)
class InterventionFact:
    """A DfE intervention: its kind, its date, and whether it appoints a commissioner and/or
    names an independent chair of the improvement board (the facts the rules follow)."""

    kind: InterventionKind
    on: date
    commissioner: bool = False
    independent_chair: bool = False

    @property
    def label(self) -> str:
        """How a basis line names the anchor."""
        return "DfE direction" if self.kind == "direction" else "DfE improvement notice"


@dataclass(frozen=True)
class CaseFacts:
    """What is known about one inspection and what has happened since.

    ``judgements`` maps a judgement area ("overall", "help_and_protection", ...) to a grade on
    the framework's scale. ``events`` maps a milestone id to the date it actually happened.
    ``direction`` is a bare direction date: a direction appointing a commissioner and naming an
    independent chair (its meaning before interventions were typed); ``interventions`` are the
    typed ones. See :meth:`intervention_in_force`.
    """

    framework: str
    published: date
    received: date | None = None
    judgements: Mapping[str, str] = field(default_factory=dict)
    direction: date | None = None
    events: Mapping[str, date] = field(default_factory=dict)
    recommendations: Sequence[Recommendation] = ()
    interventions: Sequence[InterventionFact] = ()

    def all_interventions(self) -> tuple[InterventionFact, ...]:
        """The typed interventions, plus ``direction`` as a direction with a commissioner and an
        independent chair unless a typed direction of the same date says otherwise; by date."""
        found = list(self.interventions)
        if self.direction is not None and not any(
            i.kind == "direction" and i.on == self.direction for i in found
        ):
            found.append(InterventionFact("direction", self.direction, True, True))
        return tuple(sorted(found, key=lambda i: (i.on, INTERVENTION_KINDS.index(i.kind))))

    def intervention_in_force(self) -> InterventionFact | None:
        """The latest intervention: a later one replaces an earlier (a direction issued after an
        improvement notice closes it); on the same day a direction outranks a notice."""
        found = self.all_interventions()
        return found[-1] if found else None
