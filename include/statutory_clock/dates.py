"""Dates as people read them, and strict parsing of dates people type."""

from __future__ import annotations

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
