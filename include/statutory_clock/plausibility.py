"""Plausibility of an inspection's facts: what cannot be true, and what is odd enough to check.

One place for every such check, so the command line, the case register (import, recorded
events, the daily recompute), the DAGs and the pages all refuse and warn alike. Pure: the facts,
the calendar and the rulebooks in, nothing else.

* :func:`refusal` names the first impossible fact as ``(field, value, problem)``, which the
  engine raises as a ``FactsError`` (exit 2 and one line on the command line): a visit numbered
  n recorded before visit n-1, an event before the report, a DfE direction before the report,
  a receipt date more than a year before publication.
* :func:`warnings` lists what is possible but unusual, one line each: a publication on a
  weekend or bank holiday, a receipt more than 10 working days after publication or more than
  30 working days before it, dates beyond the last year of known bank holidays.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING

from statutory_clock.calendar import WorkingDayCalendar

if TYPE_CHECKING:  # the engine imports this module; at run time only its values are needed
    from statutory_clock.case_facts import CaseFacts
    from statutory_clock.rules import Rulebook

# A report is sent to the council a few working days before Ofsted publishes it.
RECEIPT_AFTER_PUBLICATION_WORKING_DAYS = 10
RECEIPT_BEFORE_PUBLICATION_WORKING_DAYS = 30
RECEIPT_BEFORE_PUBLICATION_MAX_MONTHS = 12  # beyond this a receipt date is impossible

Refusal = tuple[str, str, str]  # (field, value, problem): FactsError's arguments


def _a_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


# -- numbered series (visit 1, 2, 3 ...) ---------------------------------------------------------

_SERIES_CACHE: dict[int, tuple[object, tuple[tuple[re.Pattern[str], str | None, int], ...]]] = {}


def _series(book: Rulebook) -> tuple[tuple[re.Pattern[str], str | None, int], ...]:
    """Each numbered series of the rulebook: (pattern of its ids, the id of the one-off
    milestone that comes before its first number if any, its first number).

    From the rules themselves, so a new series needs no code: ``monitoring_visit_{n}`` from 2,
    after ``first_monitoring_visit``; ``dfe_review_{n}`` from 1.
    """
    cached = _SERIES_CACHE.get(id(book))
    if cached is not None and cached[0] is book:
        return cached[1]
    recurring = {r.id for r in book.rules if r.recurrence is not None}
    found: dict[str, tuple[re.Pattern[str], str | None, int]] = {}
    for rule in book.rules:
        if rule.recurrence is None:
            continue
        head, _, tail = rule.recurrence.id_format.partition("{n}")
        pattern = re.compile(rf"{re.escape(head)}(\d+){re.escape(tail)}")
        kind, _, target = rule.anchor.partition(":")
        before = target if kind == "milestone" and target not in recurring else None
        found.setdefault(rule.recurrence.id_format, (pattern, before, rule.recurrence.first_number))
    series = tuple(found.values())
    _SERIES_CACHE[id(book)] = (book, series)
    return series


def _out_of_order(events: Mapping[str, date], books: Iterable[Rulebook]) -> Refusal | None:
    for book in books:
        for pattern, before, first in _series(book):
            numbered: list[tuple[int, str]] = []
            if before is not None and before in events:
                numbered.append((first - 1, before))
            for event in events:
                match = pattern.fullmatch(event)
                if match:
                    numbered.append((int(match.group(1)), event))
            numbered.sort()
            for (_, earlier), (_, later) in pairwise(numbered):
                if events[later] < events[earlier]:
                    return (
                        f"event {later}",
                        events[later].isoformat(),
                        f"is before {earlier} ({events[earlier].isoformat()}): the occurrences "
                        "of a series happen in their numbered order; check both dates",
                    )
    return None


# -- refusals and warnings --------------------------------------------------------------------


def refusal(facts: CaseFacts, books: Iterable[Rulebook]) -> Refusal | None:
    """The first impossible fact, or None. ``books``: the case's rulebook and the DfE
    intervention rulebook (for their numbered series)."""
    report_day = facts.received or facts.published
    if facts.received is not None and facts.received < _a_year_before(facts.published):
        return (
            "received",
            facts.received.isoformat(),
            f"is more than a year before publication ({facts.published.isoformat()}): "
            "a report reaches the council days, not years, before Ofsted publishes it",
        )
    interventions = [("direction", facts.direction)] + [(i.kind, i.on) for i in facts.interventions]
    for name, day in interventions:
        if day is not None and day < report_day:
            words = name.replace("_", " ")
            return (
                name,
                day.isoformat(),
                f"is before the report ({report_day.isoformat()}): a DfE {words} follows the "
                "inspection it answers",
            )
    for event, day in facts.events.items():
        if day < report_day:
            return (
                f"event {event}",
                day.isoformat(),
                f"is before the report ({report_day.isoformat()})",
            )
    if facts.events:
        return _out_of_order(facts.events, books)
    return None


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def warnings(
    facts: CaseFacts, calendar: WorkingDayCalendar, *, month_only: Collection[str] = ()
) -> tuple[str, ...]:
    """What is possible but unusual, one line each (empty for ordinary facts).

    ``month_only`` names the facts known only to the month (a case file's ``published:
    {month: 2014-08}``, taken as the month's last day): their day of the week means nothing.
    """
    found: list[str] = []
    published = facts.published
    if "published" not in month_only and not calendar.is_working_day(published):
        weekday = published.weekday()
        what = _WEEKDAYS[weekday] if weekday >= 5 else f"{_WEEKDAYS[weekday]} and a bank holiday"
        found.append(
            f"published: {published.isoformat()} is a {what}: Ofsted publishes reports on "
            "working days; check the date"
        )
    received = facts.received
    if received is not None and received > published:
        late = calendar.working_days_between(published, received)
        if late > RECEIPT_AFTER_PUBLICATION_WORKING_DAYS:
            found.append(
                f"received: {received.isoformat()} is {late} working days after publication "
                f"({published.isoformat()}): a council normally receives its report before it "
                "is published; check the date (the legal clock counts from receipt)"
            )
    elif received is not None and received < published:
        early = calendar.working_days_between(received, published)
        if early > RECEIPT_BEFORE_PUBLICATION_WORKING_DAYS:
            found.append(
                f"received: {received.isoformat()} is {early} working days before publication "
                f"({published.isoformat()}): reports are normally published within days of "
                "reaching the council; check the date (the legal clock counts from receipt)"
            )
    last = calendar.last_known_year
    if last is not None:
        dated = [("published", published), ("received", received), ("direction", facts.direction)]
        dated += [(i.kind, i.on) for i in facts.interventions]
        dated += [(f"event {event}", day) for event, day in sorted(facts.events.items())]
        for name, day in dated:
            if day is not None and day.year > last:
                found.append(
                    f"{name}: {day.isoformat()} is after {last}, the last year of known bank "
                    "holidays: working days are counted with the regular bank holidays only, "
                    "so a holiday announced later could move a deadline"
                )
    return tuple(found)
