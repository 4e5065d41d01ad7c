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

The text is written here rather than through the ``icalendar`` package's object model: the
format needed is small (TEXT escaping, DATE and UTC DATE-TIME values, lines folded at 75
octets), and the whole portfolio's feed (some 2,500 events for 153 councils) took the package
seconds to serialise, against the issue's 300 ms. The tests read every feed back with
``icalendar``'s parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

PRODID = "-//statclock//Statutory clock//EN"
_LINE_OCTETS = 75  # RFC 5545 3.1: lines longer than this are folded
# TEXT may not hold control characters other than HTAB (RFC 5545 3.3.11): a line break becomes
# the escaped \n, any other control character a space. A URI value is not escaped at all, so
# it keeps no whitespace or control character that could end it or the line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NOT_IN_URI = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def deadline_uid(case_key: str, item: str) -> str:
    """The event's UID: ``croydon-2017-milestone-written_statement_of_action@statclock``."""
    return f"{case_key}-{item.replace(':', '-')}@statclock"


def text(value: str) -> str:
    """A TEXT value, escaped (RFC 5545 3.3.11); CRLF and CR count as one line break."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\n", "\\n")
    return _CONTROL.sub(" ", value) if _CONTROL.search(value) else value


def uri(value: str) -> str:
    """A URI value, with nothing that could end it or the line."""
    return _NOT_IN_URI.sub("", value)


def _day(value: date) -> str:
    return value.isoformat().replace("-", "")


def _instant(value: datetime) -> str:
    m = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{m.year:04d}{m.month:02d}{m.day:02d}T{m.hour:02d}{m.minute:02d}{m.second:02d}Z"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return out + (f"{seconds}S" if seconds or out == "PT" else "")


def fold(line: str) -> str:
    """One content line folded at 75 octets (CRLF and a space), never inside a character."""
    if len(line) <= _LINE_OCTETS and line.isascii():
        return line
    if line.isascii():
        rest = range(_LINE_OCTETS, len(line), _LINE_OCTETS - 1)
        return "\r\n ".join([line[:_LINE_OCTETS], *(line[i : i + _LINE_OCTETS - 1] for i in rest)])
    parts: list[str] = []
    current: list[str] = []
    size, limit = 0, _LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8", errors="surrogatepass"))
        if size + width > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, _LINE_OCTETS - 1
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)


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
) -> list[str]:
    """One deadline as an all-day VEVENT (``due`` after any agreed extension): its content
    lines, unfolded, for :func:`calendar`."""
    lines = [
        "BEGIN:VEVENT",
        f"UID:{text(deadline_uid(case_key, item))}",
        f"SEQUENCE:{int(sequence)}",
        f"DTSTAMP:{_instant(stamp)}",
        f"DTSTART;VALUE=DATE:{_day(due)}",
        f"DTEND;VALUE=DATE:{_day(due + timedelta(days=1))}",
        "TRANSP:TRANSPARENT",
        f"SUMMARY:{text(summary)}",
        f"DESCRIPTION:{text(chr(10).join(description))}",
    ]
    if url:
        lines.append(f"URL:{uri(url)}")
    lines.append("END:VEVENT")
    return lines


def calendar(
    events: Iterable[Sequence[str]],
    name: str | None = None,
    description: str | None = None,
    refresh: timedelta | None = None,
) -> str:
    """A VCALENDAR with METHOD:PUBLISH holding ``events``; a feed also gives its ``name``
    (NAME and X-WR-CALNAME) and how often clients should fetch it again (REFRESH-INTERVAL, and
    X-PUBLISHED-TTL for Outlook). CRLF line ends, lines folded."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{text(PRODID)}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    if name:
        lines += [f"NAME:{text(name)}", f"X-WR-CALNAME:{text(name)}"]
    if description:
        lines.append(f"DESCRIPTION:{text(description)}")
    if refresh is not None:
        lines += [
            f"REFRESH-INTERVAL;VALUE=DURATION:{_duration(refresh)}",
            f"X-PUBLISHED-TTL:{_duration(refresh)}",
        ]
    for event in events:
        lines += event
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
