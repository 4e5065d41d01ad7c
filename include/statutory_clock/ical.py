"""Deadlines as iCalendar (RFC 5545) events: the one builder the reminder emails' attachment
and the calendar feeds share.

Pure: no database, no clock. The rule that makes calendar clients *move* an entry instead of
adding a second one lives here, once:

- ``UID`` is :func:`deadline_uid`: the case key and the item ("milestone:<id>"), never a date,
  so it is the same in every email and every feed, before and after any recompute;
- ``SEQUENCE`` is the item's due-date version (the register adds one whenever the date moves,
  an extension included), so a later copy of the event is known to supersede an earlier one.

Deadlines are all-day events (``DTSTART`` a DATE, ``DTEND`` the next day) and ``TRANSP`` is
``TRANSPARENT``: a deadline does not make anyone busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from icalendar import Calendar, Event, vDuration

PRODID = "-//statclock//Statutory clock//EN"


def deadline_uid(case_key: str, item: str) -> str:
    """The event's UID: ``croydon-2017-milestone-written_statement_of_action@statclock``."""
    return f"{case_key}-{item.replace(':', '-')}@statclock"


def new_calendar(
    name: str | None = None,
    description: str | None = None,
    refresh: timedelta | None = None,
) -> Calendar:
    """A VCALENDAR with METHOD:PUBLISH; a feed also gives its ``name`` (X-WR-CALNAME and
    NAME) and how often clients should fetch it again (REFRESH-INTERVAL and X-PUBLISHED-TTL,
    the latter for Outlook)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("name", name)
        cal.add("x-wr-calname", name)
    if description:
        cal.add("description", description)
    if refresh is not None:
        cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", vDuration(refresh))
    return cal


def deadline_event(
    *,
    case_key: str,
    item: str,
    due: date,
    sequence: int,
    summary: str,
    description: Sequence[str],
    stamp: datetime,
    url: str | None = None,
) -> Event:
    """One deadline as an all-day VEVENT (``due`` after any agreed extension)."""
    event = Event()
    event.add("uid", deadline_uid(case_key, item))
    event.add("sequence", sequence)
    event.add("dtstamp", stamp)
    event.add("dtstart", due)
    event.add("dtend", due + timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    event.add("summary", summary)
    event.add("description", "\n".join(description))
    if url:
        event.add("url", url)
    return event


def to_text(cal: Calendar) -> str:
    text: bytes = cal.to_ical()
    return text.decode("utf-8")
