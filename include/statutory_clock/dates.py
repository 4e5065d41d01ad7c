"""Dates as people read them, and strict parsing of dates people type."""

from __future__ import annotations

import re
from datetime import date

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_iso_date(text: str) -> date:
    """Parse YYYY-MM-DD strictly; the ValueError says whether the form or the day is wrong."""
    if not _ISO.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None


def long_date(day: date) -> str:
    """'Monday 11 December 2017': the form used in letters, board packs and reminders."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    """'Mon 11 Dec 2017': for tables."""
    return f"{day:%a} {day.day:>2} {day:%b %Y}"
