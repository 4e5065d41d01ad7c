"""Rulebooks: the statutory and regulatory timescales, as data with their legal sources.

One YAML file per framework (``sif.yaml``, ``ilacs.yaml`` ...), validated against ``schema.json``
when loaded. A broken rulebook raises :class:`RulebookError` naming the file, the rule and the
field, so an operator who edits a rule sees exactly what to fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

# libyaml's loader when PyYAML was built with it (it is on PyPI wheels): ~10x faster to parse.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Unit = Literal["working_days", "calendar_days", "weeks", "months"]
# Whose act a milestone is: the council's statutory duty, or Ofsted's or the DfE's doing.
Party = Literal["council", "ofsted", "dfe"]
# Which way a forecast that lands on a non-working day moves to a working day.
Roll = Literal["forward", "backward"]
# The roll when a rule names none, by party. Ofsted's visits and the DfE's reviews are forecasts
# of when someone else acts, and neither books a visit or a review on a weekend or a bank holiday:
# the nearest day it can happen at the earliest is the next working day, so they roll forward
# (rolling back would forecast the act before the cadence brings it round). A council deadline is
# never rolled: it keeps its legal due date, and the milestone's ``act_by`` gives the last
# working day on or before it (docs/statutory-rules.md, "Non-working days").
DEFAULT_ROLL: Mapping[str, Roll | None] = {"council": None, "ofsted": "forward", "dfe": "forward"}
INTERVENTION = "dfe_intervention"
# The kinds of DfE intervention a case can record (an improvement notice is non-statutory; a
# direction is made under s497A Education Act 1996).
InterventionKind = Literal["direction", "improvement_notice"]
INTERVENTION_KINDS: tuple[InterventionKind, ...] = ("direction", "improvement_notice")
FRAMEWORKS = ("slac2009", "sif", "ilacs", "focused_visit")
RULEBOOK_FILES = (*FRAMEWORKS, INTERVENTION)
OVERLAY_SETTING = "STATCLOCK_RULES_OVERLAY"  # names an operator's overlay file (rules/overlay.py)


class RulebookError(ValueError):
    """A rulebook is invalid. The message names the file, the rule id and the field."""


@dataclass(frozen=True, slots=True)
class Recurrence:
    every: int
    unit: Unit
    id_format: str
    first_number: int
    until: str | None = None  # "milestone:<id>": stop once past that milestone's due date
    horizon_months: int | None = None  # otherwise stop this many months after the anchor


@dataclass(frozen=True, slots=True)
class InterventionCondition:
    """A rule's ``applies_to.intervention``: which intervention in force it needs."""

    kinds: tuple[str, ...] | None  # None: any kind
    commissioner: bool | None  # True: only when a commissioner is appointed; None: either way
    independent_chair: bool | None  # True: only when an independent chair is named


@dataclass(frozen=True, slots=True)
class JudgementArea:
    id: str
    label: str
    valid_from: date | None
    valid_to: date | None

    def in_force(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day < self.valid_to
        )


@dataclass(frozen=True, slots=True)
class Rule:
    framework: str
    id: str
    party: Party
    title: str
    kind: str
    anchor: str
    offset: int
    unit: Unit
    counting: str
    window_start_offset: int | None
    judgements: tuple[str, ...] | None  # None: any judgement (or none recorded)
    areas: tuple[str, ...] | None  # None: any judgement area
    recurrence: Recurrence | None
    source: str
    confidence: str
    valid_from: date
    valid_to: date | None
    notes: str
    ref: str  # stable reference for outputs and the audit trail, e.g. "sif.publish_report"
    # Set by an operator's rules overlay (rules/overlay.py): "local override: ..." for the basis
    # lines of the rule's milestones, and the overlay file's SHA-256 for the audit trail.
    local_override: str = ""
    overlay_sha256: str = ""
    match_all: bool = False  # applies_to.match "all": every graded area listed must qualify
    intervention: InterventionCondition | None = None  # applies_to.intervention
    # How a forecast on a non-working day moves (None: never moved, a council deadline);
    # the rule's own ``roll`` or DEFAULT_ROLL for its party.
    roll: Roll | None = None
    # A few words for an email subject (e.g. "Written statement of action"); "" if none given.
    short_label: str = ""

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True, slots=True)
class Rulebook:
    framework: str
    title: str
    label: str  # the short name people read in packs and pages
    short_label: str  # the shortest name, for a table column (e.g. "ILACS")
    valid_from: date
    valid_to: date | None
    judgement_scale: tuple[str, ...]
    judgement_labels: Mapping[str, str]  # grade -> how it is written, one per grade
    notes: str
    rules: tuple[Rule, ...]
    path: str
    areas: Mapping[str, JudgementArea] = field(default_factory=dict)  # empty: not listed

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True, slots=True)
class Timescale:
    key: str
    label: str
    months: int
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecommendationPolicy:
    anchor: str
    source: str
    confidence: str
    timescales: Mapping[str, Timescale]
    default_rounding: str
    rounding_policies: Mapping[str, str]

    def timescale_for(self, text: str) -> Timescale | None:
        """Match a key ("within_three_months") or a phrase from a report ("Within 3 months")."""
        wanted = " ".join(text.strip().lower().replace("_", " ").split())
        for timescale in self.timescales.values():
            if wanted == timescale.key.replace("_", " ") or wanted in timescale.phrases:
                return timescale
        return None


def _no_dates(value: Any) -> Any:
    """YAML turns 2016-08-01 into a date; the schema (and JSON) speak strings."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _no_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_dates(v) for v in value]
    return value


@cache
def _validator() -> Any:
    import jsonschema  # lazy: only needed when a rulebook is loaded

    schema = json.loads(resources.files(__name__).joinpath("schema.json").read_text("utf-8"))
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _describe(path: str, raw: Mapping[str, Any], error: Any) -> str:
    location = list(error.absolute_path)
    rule = ""
    if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
        rules = raw.get("rules") or []
        rule_id = rules[location[1]].get("id") if location[1] < len(rules) else None
        rule = f", rule {rule_id or '#' + str(location[1] + 1)}"
        location = location[2:]
    field = ".".join(str(p) for p in location) or "(top level)"
    return f"{path}{rule}, field {field}: {error.message}"


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def parse_rulebook(raw: Any, path: str) -> Rulebook:
    """Validate one rulebook document and turn it into frozen objects."""
    if not isinstance(raw, Mapping):
        raise RulebookError(f"{path}: a rulebook must be a YAML mapping")
    raw = _no_dates(raw)
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise RulebookError(_describe(path, raw, errors[0]))
    framework = raw["framework"]
    rules = tuple(_parse_rule(framework, r) for r in raw["rules"])
    _check_references(path, rules)
    scale = tuple(raw.get("judgement_scale", ()))
    labels = dict(raw.get("judgement_labels", {}))
    if set(labels) != set(scale):
        raise RulebookError(
            f"{path}, field judgement_labels: must give one label per grade of the scale "
            f"({', '.join(scale) or 'none'}), not {', '.join(labels) or 'none'}"
        )
    valid_from = _date(raw["valid_from"])
    assert valid_from is not None  # required by the schema
    return Rulebook(
        framework=framework,
        title=raw["title"],
        label=raw["label"],
        short_label=raw.get("short_label", raw["label"]),
        valid_from=valid_from,
        valid_to=_date(raw.get("valid_to")),
        judgement_scale=scale,
        judgement_labels=labels,
        notes=raw.get("notes", ""),
        rules=rules,
        path=path,
        areas={
            key: JudgementArea(
                key, spec["label"], _date(spec.get("valid_from")), _date(spec.get("valid_to"))
            )
            for key, spec in raw.get("areas", {}).items()
        },
    )


def _parse_rule(framework: str, r: Mapping[str, Any]) -> Rule:
    applies = r["applies_to"]
    recurrence = r.get("recurrence")
    window = r.get("window")
    valid_from = _date(r["valid_from"])
    assert valid_from is not None
    return Rule(
        framework=framework,
        id=r["id"],
        party=r["party"],
        title=r["title"],
        kind=r["kind"],
        anchor=r["anchor"],
        offset=r["offset"],
        unit=r["unit"],
        counting=r["counting"],
        window_start_offset=window["start_offset"] if window else None,
        judgements=None if applies["judgements"] == "any" else tuple(applies["judgements"]),
        areas=None if applies.get("areas", "any") == "any" else tuple(applies["areas"]),
        recurrence=Recurrence(**recurrence) if recurrence else None,
        source=r["source"],
        confidence=r["confidence"],
        valid_from=valid_from,
        valid_to=_date(r.get("valid_to")),
        notes=" ".join(r.get("notes", "").split()),
        ref=f"{framework}.{r['id']}",
        match_all=applies.get("match", "any") == "all",
        intervention=_intervention_condition(applies.get("intervention")),
        roll=r.get("roll", DEFAULT_ROLL[r["party"]]),
        short_label=r.get("short_label", ""),
    )


def _intervention_condition(raw: Mapping[str, Any] | None) -> InterventionCondition | None:
    if raw is None:
        return None
    kinds = raw.get("kinds")
    return InterventionCondition(
        kinds=tuple(kinds) if kinds else None,
        commissioner=raw.get("commissioner"),
        independent_chair=raw.get("independent_chair"),
    )


_COUNTING_FOR_UNIT = {
    "working_days": "anchor_excluded",
    "months": "same_day_of_month",
    "calendar_days": "calendar",
    "weeks": "calendar",
}


def _check_references(path: str, rules: Iterable[Rule]) -> None:
    """Beyond the schema: counting matches unit, and anchors name an *earlier* rule.

    Requiring earlier rules keeps the dependency chain acyclic and lets the engine compute a
    clock in one pass in file order.
    """
    seen: set[str] = set()
    periods: dict[str, list[Rule]] = {}
    for rule in rules:
        where = f"{path}, rule {rule.id}"
        if _COUNTING_FOR_UNIT[rule.unit] != rule.counting:
            raise RulebookError(
                f"{where}, field counting: {rule.counting!r} does not fit unit {rule.unit!r} "
                f"(use {_COUNTING_FOR_UNIT[rule.unit]!r})"
            )
        if rule.party == "council" and rule.roll is not None:
            raise RulebookError(
                f"{where}, field roll: a council deadline keeps its legal due date and is never "
                "rolled (its act_by gives the last working day on or before it)"
            )
        if rule.valid_to is not None and rule.valid_to <= rule.valid_from:
            raise RulebookError(f"{where}, field valid_to: {rule.valid_to} is not after valid_from")
        targets: list[str] = []
        kind, _, target_ids = rule.anchor.partition(":")
        if kind in ("milestone", "deadline", "each"):
            targets = target_ids.split(",")
        if rule.recurrence and rule.recurrence.until:
            targets.append(rule.recurrence.until.removeprefix("milestone:"))
        for target in targets:
            if target not in seen:
                raise RulebookError(
                    f"{where}, field anchor: {target!r} is not a rule defined earlier in the file"
                )
        if rule.recurrence and not (rule.recurrence.until or rule.recurrence.horizon_months):
            raise RulebookError(f"{where}, field recurrence: needs 'until' or 'horizon_months'")
        for earlier in periods.get(rule.id, []):
            if earlier.valid_to is None or earlier.valid_to > rule.valid_from:
                raise RulebookError(
                    f"{where}, field valid_from: {rule.valid_from} overlaps an earlier version "
                    f"of the rule (valid {earlier.valid_from} to {earlier.valid_to or 'now'})"
                )
        periods.setdefault(rule.id, []).append(rule)
        seen.add(rule.id)


def load_rulebook_file(path: Path) -> Rulebook:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise RulebookError(f"{path}{line}: not valid YAML ({exc.__class__.__name__})") from exc
    except OSError as exc:
        raise RulebookError(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_rulebook(raw, str(path))


def rules_dir() -> Path:
    return Path(str(resources.files(__name__)))


def load_rulebooks(directory: str | None = None) -> Mapping[str, Rulebook]:
    """All rulebooks, keyed by framework, with the operator's local overrides if the setting
    ``STATCLOCK_RULES_OVERLAY`` names an overlay file (rules/overlay.py). Read when called,
    never at import time; a missing or invalid overlay raises ``OverlayError``."""
    # the same call as other callers make, so the same cached object (the engine relies on it)
    books = bundled_rulebooks(directory) if directory else bundled_rulebooks()
    path = os.environ.get(OVERLAY_SETTING, "").strip()
    if not path:
        return books
    from statutory_clock.rules.overlay import overlaid

    return overlaid(books, path)


@cache
def bundled_rulebooks(directory: str | None = None) -> Mapping[str, Rulebook]:
    """All rulebooks as shipped (no local overrides), keyed by framework, validated against
    the schema.

    Validation (and importing jsonschema) costs ~0.3 s, which would dominate a single
    ``statclock clock`` call, so validated rulebooks are kept in a per-user cache keyed on the
    SHA-256 of the schema and every rulebook file: any edit to a file means a fresh validation.
    """
    base = Path(directory) if directory else rules_dir()
    # This module's own source is hashed too, so a change to the Rule class invalidates the cache.
    paths = [Path(__file__), rules_dir() / "schema.json"]
    paths += [base / f"{name}.yaml" for name in RULEBOOK_FILES]
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError as exc:
            raise RulebookError(f"{path}: cannot read ({exc.strerror})") from exc
    cache_file = _cache_dir() / f"rulebooks-{digest.hexdigest()[:32]}.pickle"
    try:
        cached = pickle.loads(cache_file.read_bytes())
        if isinstance(cached, dict) and set(cached) == set(RULEBOOK_FILES):
            return cached
    except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError):
        pass  # no cache yet, or one from another version of the code: validate afresh
    books = _load_and_validate(base)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(books))
        tmp.replace(cache_file)
    except OSError:
        pass  # a read-only home is fine: we just validate every time
    return books


def _cache_dir() -> Path:
    root = os.environ.get("STATCLOCK_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "statclock" if root else Path.home() / ".cache" / "statclock"


def _load_and_validate(base: Path) -> dict[str, Rulebook]:
    books = {}
    for name in RULEBOOK_FILES:
        book = load_rulebook_file(base / f"{name}.yaml")
        if book.framework != name:
            raise RulebookError(
                f"{base / name}.yaml, field framework: {book.framework!r} != {name!r}"
            )
        books[name] = book
    return books


@cache
def load_recommendation_policy(directory: str | None = None) -> RecommendationPolicy:
    path = (Path(directory) if directory else rules_dir()) / "recommendations.yaml"
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    try:
        timescales = {
            key: Timescale(
                key=key,
                label=str(spec["label"]),
                months=int(spec["months"]),
                phrases=tuple(p.lower() for p in spec["phrases"]),
            )
            for key, spec in raw["timescales"].items()
        }
        rounding = raw["rounding"]
        policy = RecommendationPolicy(
            anchor=raw["anchor"],
            source=" ".join(raw["source"].split()),
            confidence=raw["confidence"],
            timescales=timescales,
            default_rounding=rounding["default"],
            rounding_policies=dict(rounding["policies"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RulebookError(f"{path}: missing or malformed field {exc}") from exc
    if policy.default_rounding not in policy.rounding_policies:
        raise RulebookError(f"{path}, field rounding.default: {policy.default_rounding!r} unknown")
    return policy


# -- what other modules ask of the rulebooks (so none of them restates a list) -----------------


def judgements() -> tuple[str, ...]:
    """Every grade on any framework's scale, the newest framework's scale first."""
    books = bundled_rulebooks()  # an overlay changes no scale or label
    seen: dict[str, None] = {}
    for name in reversed(FRAMEWORKS):
        seen.update(dict.fromkeys(books[name].judgement_scale))
    return tuple(seen)


def judgements_worst_first() -> tuple[str, ...]:
    """Every grade, the worst first: by its place on its own framework's scale (best first in
    the rulebooks), as a fraction of that scale, the worst such place over the frameworks, so
    "adequate" (third of four in 2009) ranks with "requires improvement" (third of four now)."""
    books = bundled_rulebooks()  # an overlay changes no scale or label
    rank: dict[str, float] = {}
    for book in books.values():
        scale = book.judgement_scale
        for place, grade in enumerate(scale):
            rank[grade] = max(rank.get(grade, 0.0), place / max(len(scale) - 1, 1))
    return tuple(sorted(rank, key=lambda grade: (-rank[grade], grade)))


def judgement_labels() -> Mapping[str, str]:
    """Grade -> label, over every framework (a grade is written the same in every rulebook)."""
    books = bundled_rulebooks()  # an overlay changes no scale or label
    labels: dict[str, str] = {}
    for name in FRAMEWORKS:
        labels.update(books[name].judgement_labels)
    return labels


def framework_labels() -> Mapping[str, str]:
    """Framework -> its short label."""
    books = bundled_rulebooks()  # an overlay changes no scale or label
    return {name: books[name].label for name in FRAMEWORKS}


def default_rounding() -> str:
    """The rounding of recommendation timescales when a case names none."""
    return load_recommendation_policy().default_rounding


def rounding_policies() -> tuple[str, ...]:
    return tuple(load_recommendation_policy().rounding_policies)
