"""Working days in England and Wales, as the statutory clock counts them.

SI 2007/462 reg 1(2): a working day is any day other than a Saturday, a Sunday, Christmas Day,
Good Friday, or a bank holiday in England and Wales under the Banking and Financial Dealings Act
1971.

Where the bank holidays come from, highest precedence first:

1. **Operator overrides** (``added`` / ``removed`` dates): a holiday announced after the last
   feed, or one that was cancelled. An added date is never a working day; a removed date is a
   working day unless rule 0 below applies.
2. **A refreshed GOV.UK feed** (``refreshed``): for every year the feed covers, its list replaces
   the snapshot's for that year.
3. **The bundled snapshot** (``data/bank-holidays.json``, GOV.UK format) for the years it covers.
4. **The ``holidays`` package** (``subdiv="ENG"``) for years no list above covers.

Rule 0, above everything: Saturdays, Sundays, Christmas Day and Good Friday are never working
days, whatever a feed or an operator says, because the regulation names them directly.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

from dateutil.easter import easter

DIVISIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
DEFAULT_DIVISION = "england-and-wales"
SNAPSHOT_RESOURCE = "bank-holidays.json"

# The working-day index is prebuilt over the years the holiday lists cover (so that building it
# never needs the slower ``holidays`` package) and extended on demand beyond them.
_INDEX_START = date(2000, 1, 1)


class CalendarError(ValueError):
    """A holiday source is malformed; the message names the source and the offending value."""


@dataclass(frozen=True)
class HolidayList:
    """Bank holidays of one division from one source, and the years that source covers."""

    source: str
    dates: frozenset[date]
    titles: Mapping[date, str] = field(default_factory=dict)

    @property
    def years(self) -> range:
        if not self.dates:
            return range(0)
        return range(min(self.dates).year, max(self.dates).year + 1)


def parse_govuk_feed(
    payload: Mapping[str, Any], *, source: str, division: str = DEFAULT_DIVISION
) -> HolidayList:
    """Validate a GOV.UK ``bank-holidays.json`` document and return one division's holidays.

    Raises CalendarError naming the source and the bad field if the shape is not GOV.UK's.
    """
    if not isinstance(payload, Mapping):
        raise CalendarError(f"{source}: expected a JSON object at the top level")
    block = payload.get(division)
    if not isinstance(block, Mapping):
        raise CalendarError(f"{source}: missing division {division!r}")
    events = block.get("events")
    if not isinstance(events, list) or not events:
        raise CalendarError(f"{source}: {division}.events must be a non-empty list")
    dates: set[date] = set()
    titles: dict[date, str] = {}
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise CalendarError(f"{source}: {division}.events[{i}] is not an object")
        raw = event.get("date")
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            day = None
        if day is None:
            raise CalendarError(f"{source}: {division}.events[{i}].date is {raw!r}, not YYYY-MM-DD")
        title = event.get("title")
        if not isinstance(title, str) or not title:
            raise CalendarError(f"{source}: {division}.events[{i}].title is {title!r}")
        dates.add(day)
        titles[day] = title
    return HolidayList(source=source, dates=frozenset(dates), titles=titles)


@cache
def bundled_snapshot(division: str = DEFAULT_DIVISION) -> HolidayList:
    text = resources.files("statutory_clock.data").joinpath(SNAPSHOT_RESOURCE).read_text("utf-8")
    return parse_govuk_feed(json.loads(text), source="bundled snapshot", division=division)


def package_holidays(years: Iterable[int], division: str = DEFAULT_DIVISION) -> dict[date, str]:
    """Bank holidays from the ``holidays`` package, as GOV.UK would list them.

    ``subdiv`` is required: ``country_holidays("GB")`` alone omits Easter Monday and the August
    bank holiday. The package also lists the weekend date beside its "(observed)" weekday; only
    the weekday is a bank holiday, so weekend dates are dropped.
    """
    import holidays  # imported lazily: loading it costs ~0.1 s and most runs never need it

    found = holidays.country_holidays("GB", subdiv=DIVISIONS[division], years=list(years))
    return {
        day: name.replace(" (observed)", "")
        for day, name in sorted(found.items())
        if day.weekday() < 5
    }


def _is_statutory_rest_day(day: date) -> bool:
    """Saturday, Sunday, Christmas Day or Good Friday: named by SI 2007/462 reg 1(2) itself."""
    if day.weekday() >= 5:
        return True
    if day.month == 12 and day.day == 25:
        return True
    return day == easter(day.year) - timedelta(days=2)


class WorkingDayCalendar:
    """England and Wales working days, with documented precedence of holiday sources.

    Counting is done over a sorted index of working days, so ``add_working_days`` is a binary
    search rather than a day-by-day walk.
    """

    def __init__(
        self,
        *,
        division: str = DEFAULT_DIVISION,
        snapshot: HolidayList | None = None,
        refreshed: HolidayList | None = None,
        added: Iterable[date] = (),
        removed: Iterable[date] = (),
    ) -> None:
        if division not in DIVISIONS:
            raise CalendarError(f"division: unknown {division!r}; use one of {sorted(DIVISIONS)}")
        self.division = division
        self.snapshot = snapshot if snapshot is not None else bundled_snapshot(division)
        self.refreshed = refreshed
        self.added = frozenset(added)
        self.removed = frozenset(removed)
        self._holidays: set[date] = set()
        self._years_loaded: set[int] = set()
        self._index: list[int] = []
        self._index_start = _INDEX_START
        self._index_end = _INDEX_START - timedelta(days=1)
        covered = [y for s in (self.snapshot, self.refreshed) if s is not None for y in s.years]
        last_year = max(covered, default=_INDEX_START.year + 30)
        self._extend(_INDEX_START, date(last_year, 12, 31))

    # -- which days are bank holidays ---------------------------------------------------------
    def _load_years(self, years: Iterable[int]) -> None:
        wanted = [y for y in years if y not in self._years_loaded]
        if not wanted:
            return
        uncovered = []
        for year in wanted:
            source = self._source_for(year)
            if source is None:
                uncovered.append(year)
            else:
                self._holidays.update(d for d in source.dates if d.year == year)
        if uncovered:
            self._holidays.update(package_holidays(uncovered, self.division))
        self._years_loaded.update(wanted)

    def _source_for(self, year: int) -> HolidayList | None:
        for source in (self.refreshed, self.snapshot):
            if source is not None and year in source.years:
                return source
        return None

    def source_of_year(self, year: int) -> str:
        """Which source supplies the bank holidays of ``year`` (for explanations and audits)."""
        source = self._source_for(year)
        return source.source if source is not None else "holidays package"

    @property
    def last_known_year(self) -> int | None:
        """The last year a published list (the snapshot or a refreshed feed) covers; beyond it
        the ``holidays`` package supplies only the regular bank holidays, none announced later
        (a coronation, a jubilee)."""
        covered = [y for s in (self.snapshot, self.refreshed) if s is not None for y in s.years]
        return max(covered, default=None)

    def bank_holidays(self, year: int) -> list[date]:
        self._load_years([year])
        days = {d for d in self._holidays if d.year == year} - self.removed
        days |= {d for d in self.added if d.year == year}
        return sorted(days)

    def is_working_day(self, day: date) -> bool:
        if _is_statutory_rest_day(day):
            return False
        if day in self.added:
            return False
        if day in self.removed:
            return True
        self._load_years([day.year])
        return day not in self._holidays

    # -- the index ----------------------------------------------------------------------------
    def _extend(self, start: date, end: date) -> None:
        """Make the index cover [start, end] (it only ever grows, keeping it contiguous)."""
        start = min(start, self._index_start)
        end = max(end, self._index_end)
        if start >= self._index_start and end <= self._index_end and self._index:
            return
        years = range(start.year, end.year + 1)
        self._load_years(years)
        closed = {d for d in self._holidays if d.year in years} - self.removed
        closed |= self.added
        for year in years:  # rule 0: the days the regulation names itself
            closed.add(date(year, 12, 25))
            closed.add(easter(year) - timedelta(days=2))
        closed_ordinals = {d.toordinal() for d in closed}
        # date.fromordinal(1) is a Monday, so ordinal % 7 is 6 on Saturdays and 0 on Sundays.
        self._index = [
            o
            for o in range(start.toordinal(), end.toordinal() + 1)
            if o % 7 not in (0, 6) and o not in closed_ordinals
        ]
        self._index_start, self._index_end = start, end
        self._first, self._last = start.toordinal(), end.toordinal()

    def _ensure(self, ordinal: int, margin_days: int) -> None:
        if ordinal - margin_days < self._first or ordinal + margin_days > self._last:
            around = date.fromordinal(ordinal)
            margin = timedelta(days=margin_days + 366)
            self._extend(around - margin, around + margin)

    def add_working_days(self, anchor: date, n: int) -> date:
        """The ``n``-th working day after ``anchor`` (before it when ``n`` is negative).

        The anchor itself is never counted, whether or not it is a working day: this is the
        verified reading of "within N working days of X" (see docs/statutory-rules). ``n == 0``
        returns the anchor unchanged.
        """
        if n == 0:
            return anchor
        ordinal = anchor.toordinal()
        # Every 7 calendar days hold at most 5 working days; 2x plus a fortnight is ample.
        self._ensure(ordinal, 2 * abs(n) + 14)
        if n > 0:
            position = bisect_right(self._index, ordinal) + n - 1
        else:
            position = bisect_left(self._index, ordinal) + n
        return date.fromordinal(self._index[position])

    def working_day_on_or_before(self, day: date) -> date:
        """``day`` when it is a working day, else the last working day before it."""
        ordinal = day.toordinal()
        self._ensure(ordinal, 14)  # no run of non-working days in England is near a fortnight
        return date.fromordinal(self._index[bisect_right(self._index, ordinal) - 1])

    def working_day_on_or_after(self, day: date) -> date:
        """``day`` when it is a working day, else the first working day after it."""
        ordinal = day.toordinal()
        self._ensure(ordinal, 14)
        return date.fromordinal(self._index[bisect_left(self._index, ordinal)])

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days lie in the half-open interval (start, end]."""
        if end <= start:
            return 0
        self._ensure(start.toordinal(), 0)
        self._ensure(end.toordinal(), 0)
        return bisect_right(self._index, end.toordinal()) - bisect_right(
            self._index, start.toordinal()
        )

    def working_day_ordinals(self) -> list[int]:
        """The index itself (sorted ordinals), for vectorised benchmarks and bulk callers."""
        return list(self._index)


@cache
def default_calendar() -> WorkingDayCalendar:
    """The bundled England and Wales calendar, built once per process."""
    return WorkingDayCalendar()
