"""The ``statclock`` command.

``statclock clock`` is a contract other tools depend on (docs/architecture.md): its options,
its JSON shape and its exit status 2 with a one-line message for bad input must not change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import NoReturn

from statutory_clock.calendar import CalendarError, default_calendar
from statutory_clock.dates import long_date, parse_iso_date, short_date
from statutory_clock.engine import (
    CaseFacts,
    Clock,
    FactsError,
    InterventionFact,
    Recommendation,
    compute_clock,
    milestone_status,
)
from statutory_clock.inputs import (
    RECOMMENDATION_NUMBER,
    InputError,
    Text,
    Whole,
    argument,
    milestone_id,
    parse_day,
    printable,
    shown,
)
from statutory_clock.rules import (
    FRAMEWORKS,
    INTERVENTION,
    INTERVENTION_KINDS,
    RulebookError,
    default_rounding,
    judgements,
    load_rulebooks,
    rounding_policies,
)
from statutory_clock.rules.overlay import OverlayError

USER_ERROR = 2

# Which command-line option a FactsError field came from, so messages name what the user typed.
_OPTION_FOR_FIELD = {
    "framework": "--framework",
    "published": "--published",
    "received": "--received",
    "direction": "--direction",
    "judgement overall": "--judgement",
    "rounding": "--rounding",
}


class UserError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump, never a traceback
        self.exit(USER_ERROR, f"{self.prog}: error: {printable(message, 500)}\n")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        # argparse's own message repeats the whole value: a 10 MB --rounding would be a 10 MB
        # error line.
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(repr(c) for c in action.choices)
            raise argparse.ArgumentError(
                action, f"invalid choice: {shown(value)} (choose from {choices})"
            )


def _iso_date(text: str) -> date:
    try:
        return parse_iso_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _key_date(text: str) -> tuple[str, date]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not in the form MILESTONE=YYYY-MM-DD")
    try:
        return milestone_id("milestone", key.strip()), parse_day("date", value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def _recommendation(text: str) -> Recommendation:
    number, sep, timescale = text.partition("=")
    if not sep or not number.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{shown(text)} is not in the form NUMBER=TIMESCALE")
    try:
        value = RECOMMENDATION_NUMBER.parse("number", number.strip())
        return Recommendation(value, Text(50).check("timescale", timescale.strip()))
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def _area_grade(text: str) -> tuple[str, str]:
    area, sep, grade = text.partition("=")
    if not sep or not area.strip() or not grade.strip():
        raise argparse.ArgumentTypeError(f"{shown(text)} is not in the form AREA=GRADE")
    try:
        return milestone_id("area", area.strip()), Text(30).check("grade", grade.strip())
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


_INTERVENTION_FLAGS = {"commissioner": "commissioner", "chair": "independent_chair"}


def _intervention(text: str) -> InterventionFact:
    """KIND=YYYY-MM-DD[,commissioner][,chair]."""
    kind, sep, rest = text.partition("=")
    kind = kind.strip().replace("-", "_")
    day, *flags = rest.split(",")
    if not sep or kind not in INTERVENTION_KINDS:
        raise argparse.ArgumentTypeError(
            f"{shown(text)} is not in the form KIND=YYYY-MM-DD[,commissioner][,chair] "
            f"(KIND: {' or '.join(INTERVENTION_KINDS)})"
        )
    unknown = [f for f in flags if f.strip() not in _INTERVENTION_FLAGS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"{shown(unknown[0])} is not commissioner or chair (in {shown(text)})"
        )
    try:
        on = parse_day("date", day.strip())
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None
    named = {_INTERVENTION_FLAGS[f.strip()] for f in flags}
    return InterventionFact(
        "direction" if kind == "direction" else "improvement_notice",
        on,
        commissioner="commissioner" in named,
        independent_chair="independent_chair" in named,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="statclock",
        description="Statutory clock for Ofsted inspections of "
        "local authority children's services.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    clock = sub.add_parser("clock", help="compute an inspection's statutory clock (no database)")
    clock.add_argument("--framework", required=True, choices=FRAMEWORKS)
    clock.add_argument("--published", required=True, type=_iso_date, metavar="YYYY-MM-DD")
    clock.add_argument(
        "--received",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="date the authority received the report (the legal anchor)",
    )
    clock.add_argument(
        "--judgement",
        choices=judgements(),
        help="overall judgement (not for ILACS reports published from 1 April 2026: use --area)",
    )
    clock.add_argument(
        "--area",
        type=_area_grade,
        action="append",
        default=[],
        metavar="AREA=GRADE",
        help="a key judgement, e.g. help_and_protection=inadequate (repeatable; ILACS areas: "
        "help_and_protection, children_in_care, care_leavers, leadership); any area judged "
        "inadequate starts monitoring for ILACS reports from 1 April 2026",
    )
    clock.add_argument(
        "--direction",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="date of a DfE statutory direction appointing a commissioner and naming an "
        "independent chair; adds the commissioner's report, board-chair reports and DfE reviews",
    )
    clock.add_argument(
        "--improvement-notice",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="date of a DfE improvement notice (no commissioner, no independent chair named); "
        "adds six-monthly DfE reviews",
    )
    clock.add_argument(
        "--intervention",
        type=_intervention,
        action="append",
        default=[],
        metavar="KIND=YYYY-MM-DD[,commissioner][,chair]",
        help="any DfE intervention: KIND direction or improvement_notice; ',commissioner' if it "
        "appoints a commissioner, ',chair' if it names an independent chair (repeatable; the "
        "latest is in force), e.g. direction=2024-03-01,chair",
    )
    clock.add_argument("--format", choices=("json", "table", "ics"), default="table")
    clock.add_argument(
        "--event",
        type=_key_date,
        action="append",
        default=[],
        metavar="MILESTONE=YYYY-MM-DD",
        help="actual date of a milestone",
    )
    clock.add_argument(
        "--recommendation",
        type=_recommendation,
        action="append",
        default=[],
        metavar="NUMBER=TIMESCALE",
        help='e.g. 2="Within three months"',
    )
    clock.add_argument(
        "--rounding",
        choices=rounding_policies(),
        default=None,  # None: the default of rules/recommendations.yaml
        help="how recommendation timescales become target dates "
        f"(default {default_rounding()}, from the rulebook)",
    )
    clock.add_argument(
        "--as-of",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="add each milestone's status on this date",
    )

    rules = sub.add_parser("rules", help="list every rule with its source and confidence")
    rules.add_argument("--framework", choices=(*FRAMEWORKS, INTERVENTION))

    holidays = sub.add_parser("holidays", help="list England and Wales bank holidays of a year")
    holidays.add_argument("year", type=argument(Whole(1900, 2200).parse))

    from statutory_clock.register_cli import add_register_commands

    add_register_commands(sub, _iso_date)
    return parser


# -- clock --------------------------------------------------------------------------------------


def _clock_command(args: argparse.Namespace) -> str:
    events = dict(args.event)
    interventions = list(args.intervention)
    if args.improvement_notice:
        interventions.append(InterventionFact("improvement_notice", args.improvement_notice))
    areas = dict(args.area)
    if args.judgement and "overall" in areas:
        raise UserError("--area overall: give the overall judgement once (--judgement)")
    facts = CaseFacts(
        framework=args.framework,
        published=args.published,
        received=args.received,
        judgements=({"overall": args.judgement} if args.judgement else {}) | areas,
        direction=args.direction,
        events=events,
        recommendations=tuple(args.recommendation),
        interventions=tuple(interventions),
    )
    try:
        clock = compute_clock(facts, rounding=args.rounding)
    except FactsError as exc:
        option = _OPTION_FOR_FIELD.get(exc.field) if args.judgement else None
        if option is None and exc.field.startswith("judgement "):
            option = f"--area {exc.field.removeprefix('judgement ')}"
        elif option is None:
            option = _OPTION_FOR_FIELD.get(exc.field)
        if option is None and exc.field.startswith("event "):
            option = f"--event {exc.field.removeprefix('event ')}"
        elif option is None and exc.field.startswith("recommendation "):
            option = "--recommendation " + exc.field.removeprefix("recommendation ")
        problem = exc.problem.replace("instead:", "instead (--area AREA=GRADE):")
        raise UserError(f"{option or exc.field}: {exc.value!r} {problem}") from None
    for warning in clock.warnings:  # unusual but possible facts: stderr, never the output
        print(f"statclock clock: warning: {warning}", file=sys.stderr)
    if args.format == "json":
        return _as_json(clock, args.as_of)
    if args.format == "ics":
        return _as_ics(clock, facts)
    return _as_table(clock, facts, args.as_of)


def _as_json(clock: Clock, as_of: date | None) -> str:
    milestones = []
    for m in clock.milestones:
        row = m.contract_dict()
        if as_of is not None:  # only on request, so the contract's default shape is untouched
            row["status"] = milestone_status(m, as_of)
            row["actual"] = m.actual.isoformat() if m.actual else None
        milestones.append(row)
    document = {
        "anchor": {"date": clock.anchor_date.isoformat(), "kind": clock.anchor_kind},
        "milestones": milestones,
        "warnings": list(clock.warnings),  # an addition to the contract; always present
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _as_table(clock: Clock, facts: CaseFacts, as_of: date | None) -> str:
    judgement = facts.judgements.get("overall") or "; ".join(
        f"{area} {grade}" for area, grade in facts.judgements.items()
    )
    judgement = (judgement or "no judgement given").replace("_", " ")
    why = "" if clock.anchor_kind == "receipt" else ", as no receipt date was given"
    lines = [
        f"Statutory clock: {facts.framework}, {judgement}",
        f"Anchor: {long_date(clock.anchor_date)} ({clock.anchor_kind}{why})",
    ]
    if as_of is not None:
        lines.append(f"Status as of {long_date(as_of)}")
    lines.append("")
    header = f"{'Due':<16} {'Act by':<16} {'Window opens':<16} "
    header += f"{'Milestone':<30} {'Whose act':<9} "
    header += f"{'Status':<12} " if as_of else ""
    lines += [header + "Basis", "-" * (len(header) + 40)]
    for m in clock.milestones:
        opens = short_date(m.window_start) if m.window_start else "-"
        # Only when it differs: a due date on a non-working day, acted on the working day before.
        act_by = short_date(m.act_by) if m.act_by and m.act_by != m.due else ""
        row = f"{short_date(m.due):<16} {act_by:<16} {opens:<16} {m.id:<30} {m.party:<9} "
        if as_of is not None:
            row += f"{milestone_status(m, as_of):<12} "
        lines.append(row + m.basis)
    lines += ["", "Sources (citation [confidence]: rules):"]
    rules_by_source: dict[tuple[str, str], list[str]] = {}
    for m in clock.milestones:
        rules = rules_by_source.setdefault((m.source, m.confidence), [])
        if m.rule not in rules:
            rules.append(m.rule)
    for (source, confidence), rules in rules_by_source.items():
        lines.append(f"  {source} [{confidence}]: {', '.join(rules)}")
    return "\n".join(lines)


def _as_ics(clock: Clock, facts: CaseFacts) -> str:
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//statclock//Statutory clock//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Statutory clock: {facts.framework} {facts.published.isoformat()}")
    stamp = datetime.now(UTC)
    for m in clock.milestones:
        event = Event()
        # Stable across recalculations, so calendar clients move the event instead of adding one.
        event.add("uid", f"{facts.framework}-{facts.published.isoformat()}-{m.id}@statclock")
        event.add("dtstamp", stamp)
        event.add("dtstart", m.due)
        event.add("summary", f"{m.title} (due)")
        event.add(
            "description",
            f"{m.basis}\nRule: {m.rule}\nSource: {m.source}\nConfidence: {m.confidence}",
        )
        event.add("categories", [m.kind])
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical.decode("utf-8")


# -- rules and holidays ---------------------------------------------------------------------------


def _rules_command(args: argparse.Namespace) -> str:
    lines = []
    for name, book in load_rulebooks().items():
        if args.framework and name != args.framework:
            continue
        lines.append(f"{name}: {book.title}")
        for rule in book.rules:
            until = rule.valid_to.isoformat() if rule.valid_to else "now"
            lines.append(
                f"  {rule.id:<30} {rule.party:<8} {rule.offset:>4} {rule.unit:<14} "
                f"from {rule.anchor}  [{rule.confidence}, {rule.valid_from.isoformat()} to {until}]"
            )
            lines.append(f"  {'':<30} {'':<8} {rule.source}")
            if rule.local_override:
                lines.append(f"  {'':<30} {'':<8} {rule.local_override}")
    return "\n".join(lines)


def _holidays_command(args: argparse.Namespace) -> str:
    if not 1900 <= args.year <= 2200:
        raise UserError(f"year: {args.year!r} is outside 1900-2200")
    cal = default_calendar()
    days = cal.bank_holidays(args.year)
    lines = [
        f"England and Wales bank holidays {args.year} (source: {cal.source_of_year(args.year)})"
    ]
    lines += [f"  {long_date(d)}" for d in days]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"clock": _clock_command, "rules": _rules_command, "holidays": _holidays_command}
    from statutory_clock.register_cli import CheckFailed, RegisterCommandError, run

    try:
        output = commands[args.command](args) if args.command in commands else run(args)
    except (UserError, RegisterCommandError, OverlayError) as exc:  # OverlayError: operator input
        print(f"statclock {args.command}: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except CheckFailed as exc:
        print(exc)
        return 1
    except (RulebookError, CalendarError) as exc:  # broken configuration, not the user's input
        print(f"statclock {args.command}: configuration error: {exc}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
