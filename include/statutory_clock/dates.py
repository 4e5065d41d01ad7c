"""Dates as people read them, and strict parsing of dates people type."""

from __future__ import annotations

import re
from datetime import date

from statutory_clock.inputs import InputError, parse_day


def parse_iso_date(text: str) -> date:
    """Parse YYYY-MM-DD strictly, within the dates statclock accepts (1990-2100).

    The ValueError says whether the form, the day or the range is wrong; outside the range,
    date arithmetic would overflow (year 9999) and no framework applies anyway.
    """
    try:
        return parse_day("date", text)  # no strip: "2017-09-04\n" is not what a person typed
    except InputError as exc:
        raise ValueError(f"{exc.detail}") from None


def long_date(day: date) -> str:
    """'Monday 11 December 2017': the form used in letters, board packs and reminders."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    """'Mon 11 Dec 2017': for tables."""
    return f"{day:%a} {day.day:>2} {day:%b %Y}"


_ISO_DAY = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")


def written_dates(text: str) -> str:
    """``text`` with each ISO date in it written out: basis lines stored in the register say
    "70 working days after 2017-09-04 (publication)"; people read "... after Monday 4 September
    2017 (publication)". Something shaped like a date that is not one is left as it is."""

    def written(match: re.Match[str]) -> str:
        try:
            return long_date(date(*(int(part) for part in match.groups())))
        except ValueError:
            return match.group(0)

    return _ISO_DAY.sub(written, text)
