"""Refreshing England and Wales bank holidays from GOV.UK's feed, and recording what changed.

GOV.UK publishes ``https://www.gov.uk/bank-holidays.json``: every division's bank holidays for a
run of years, in the format of the bundled snapshot (``data/bank-holidays.json``). This module
fetches it (:func:`fetch_feed`), checks it (:func:`validate_feed`), compares it with the calendar
the register uses now (:func:`diff_against_calendar`) and records each difference as a
:class:`~statutory_clock.store.models.CalendarChange` row with an audit event
(:func:`apply_feed`), inside the caller's transaction. It keeps a copy of the last good feed for
operators to read (:func:`save_feed`). It never imports Airflow: the ``bank_holidays`` DAG and any
other caller use it the same way.

How the feed fits the precedence documented in :mod:`statutory_clock.calendar`:

- A refresh is stored as the dates where the feed disagrees with the calendar: a date the feed
  lists that is a working day now is recorded as ``added``; a bank holiday of the calendar, in a
  year the feed covers, that the feed no longer lists is recorded as ``removed``.
  :func:`statutory_clock.store.reading.calendar_for` applies those rows over the bundled
  snapshot, so for every year the feed covers the calendar is the feed's list.
- Rule 0 still comes first: Saturdays, Sundays, Christmas Day and Good Friday are never removed,
  whatever the feed says.
- Rows written by an operator (any ``source`` not starting with :data:`FEED_SOURCE_PREFIX`)
  outrank the feed: a refresh never changes or deletes them; where the feed disagrees with one,
  :attr:`FeedChanges.kept` says so and nothing is recorded.
- A row written by an earlier refresh that a later feed contradicts is corrected in place (or
  deleted when the bundled snapshot already agrees with the new feed), with an audit event.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from statutory_clock.calendar import (
    DEFAULT_DIVISION,
    CalendarError,
    HolidayList,
    WorkingDayCalendar,
    _is_statutory_rest_day,  # rule 0 has one definition, in calendar.py
    bundled_snapshot,
    default_calendar,
    parse_govuk_feed,
)
from statutory_clock.store.audit import audit
from statutory_clock.store.models import CalendarChange
from statutory_clock.store.reading import calendar_for

FEED_URL = "https://www.gov.uk/bank-holidays.json"
FEED_SOURCE_PREFIX = "GOV.UK feed"  # CalendarChange.source of every row a refresh writes
COPY_SETTING = "STATCLOCK_BANK_HOLIDAYS_COPY"  # where the last good feed is kept
MAX_FEED_BYTES = 2_000_000  # GOV.UK's feed is about 50 kB; anything this large is not it
MAX_REMOVALS = 3  # more removals than this in one feed looks like a truncated feed, not news
ACTION_ADDED = "bank holiday added"
ACTION_REMOVED = "bank holiday removed"

_SOURCE_LENGTH = 100  # CalendarChange.source
_TITLE_LENGTH = 200  # CalendarChange.title


class FeedError(Exception):
    """The feed could not be fetched, or what came back is not a feed.

    The message is one line naming the URL and the problem. ``transient`` is true when trying
    again later may well succeed (no network, a timeout, HTTP 5xx, 408 or 429), false when the
    answer itself is wrong (HTTP 404, an HTML page, JSON that is not GOV.UK's shape).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class FeedChanges:
    """What one refresh changed in the register's calendar."""

    added: list[tuple[date, str]] = field(default_factory=list)
    removed: list[date] = field(default_factory=list)
    kept: list[date] = field(default_factory=list)  # operator overrides the feed disagrees with

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (ISO dates), e.g. for an Airflow XCom."""
        return {
            "changed": self.changed,
            "added": [[day.isoformat(), title] for day, title in self.added],
            "removed": [day.isoformat() for day in self.removed],
            "kept": [day.isoformat() for day in self.kept],
        }


# -- fetching ---------------------------------------------------------------------------------


def _root_cause(error: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, as one short line."""
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "reason", None)
        if isinstance(inner, BaseException):
            current = inner
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            break
    text = " ".join(str(current).split()) or type(current).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def fetch_feed(url: str, timeout: float = 10) -> dict[str, Any]:
    """Download a GOV.UK-format ``bank-holidays.json`` and return the decoded JSON object.

    Raises FeedError (one line: URL and reason) on a network error or timeout, an HTTP status
    other than 200, a body that is not JSON, or JSON whose top level is not an object. The
    content is not checked here: see :func:`validate_feed`.
    """
    try:
        response = requests.get(
            url,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "statclock bank holiday refresh"},
        )
    except requests.Timeout:
        raise FeedError(f"{url}: no answer within {timeout:g} s", transient=True) from None
    except requests.RequestException as error:
        raise FeedError(f"{url}: cannot fetch: {_root_cause(error)}", transient=True) from None
    with response:
        status = response.status_code
        if status != 200:
            transient = status >= 500 or status in (408, 429)
            reason = f" {response.reason}" if response.reason else ""
            raise FeedError(f"{url}: HTTP {status}{reason}, expected 200", transient=transient)
        body = response.content
        content_type = response.headers.get("Content-Type", "none")
    if len(body) > MAX_FEED_BYTES:
        raise FeedError(f"{url}: {len(body)} bytes is too large for a bank holiday feed")
    try:
        payload = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise FeedError(f"{url}: not JSON (Content-Type {content_type})") from None
    if not isinstance(payload, dict):
        raise FeedError(
            f"{url}: expected a JSON object at the top level, got {type(payload).__name__}"
        )
    return payload


def validate_feed(
    payload: Mapping[str, Any], *, source: str, max_removals: int = MAX_REMOVALS
) -> HolidayList:
    """The England and Wales holidays of a feed, refusing one that is malformed or implausible.

    Malformed: GOV.UK's shape is checked by :func:`~statutory_clock.calendar.parse_govuk_feed`
    (CalendarError naming the field, e.g. ``england-and-wales.events[3].date``). Implausible: a
    feed that would drop more than ``max_removals`` of the bundled snapshot's bank holidays in
    the years it covers is far more likely truncated than right, so it is refused too.
    """
    feed = parse_govuk_feed(payload, source=source, division=DEFAULT_DIVISION)
    _, removed = diff_against_calendar(feed, default_calendar())
    if len(removed) > max_removals:
        listed = ", ".join(day.isoformat() for day in removed[:6])
        more = ", ..." if len(removed) > 6 else ""
        raise CalendarError(
            f"{source}: {DEFAULT_DIVISION}.events would remove {len(removed)} bank holidays "
            f"of the bundled snapshot ({listed}{more}); more than {max_removals} at once looks "
            "like a truncated feed, so it was not applied"
        )
    return feed


# -- comparing and recording ------------------------------------------------------------------


def diff_against_calendar(
    feed: HolidayList, calendar: WorkingDayCalendar
) -> tuple[list[tuple[date, str]], list[date]]:
    """How ``feed`` (England and Wales) differs from ``calendar``, for the years it covers.

    ``added``: dates the feed lists that the calendar treats as working days, with their titles.
    ``removed``: the calendar's bank holidays in the feed's years that the feed does not list,
    except the days of rule 0 (weekends, Christmas Day, Good Friday), which are never removed.
    Both sorted by date.
    """
    if calendar.division != DEFAULT_DIVISION:
        raise CalendarError(
            f"division: the feed refresh is for {DEFAULT_DIVISION!r}, not {calendar.division!r}"
        )
    added = [
        (day, feed.titles.get(day) or "Bank holiday")
        for day in sorted(feed.dates)
        if calendar.is_working_day(day)
    ]
    removed = [
        day
        for year in feed.years
        for day in calendar.bank_holidays(year)
        if day not in feed.dates and not _is_statutory_rest_day(day)
    ]
    return added, removed


def is_feed_source(source: str) -> bool:
    """Whether a CalendarChange row was written by a feed refresh (else by an operator)."""
    return source.startswith(FEED_SOURCE_PREFIX)


def _stored_source(source: str) -> str:
    text = f"{FEED_SOURCE_PREFIX} {source}".strip()
    return text if len(text) <= _SOURCE_LENGTH else text[: _SOURCE_LENGTH - 3] + "..."


def _title(title: str | None) -> str | None:
    if title is None or len(title) <= _TITLE_LENGTH:
        return title
    return title[: _TITLE_LENGTH - 3] + "..."


def apply_feed(session: Session, feed: HolidayList, actor: str, source: str) -> FeedChanges:
    """Record how ``feed`` (England and Wales) differs from the register's calendar.

    Runs in the caller's transaction and does not commit. Each added or removed date becomes a
    ``CalendarChange`` row (one per division and day) and an audit event (action "bank holiday
    added" or "bank holiday removed", entity ``calendar YYYY-MM-DD``). Applying the same feed
    again records nothing. Rows an operator wrote are never touched (see the module docstring).
    Recomputing the milestones is the caller's business (``register.recompute_all``).
    """
    added, removed = diff_against_calendar(feed, calendar_for(session))
    if not added and not removed:
        return FeedChanges()
    rows = {
        row.day: row
        for row in session.execute(
            select(CalendarChange).where(CalendarChange.division == DEFAULT_DIVISION)
        ).scalars()
    }
    base = default_calendar()  # the bundled snapshot alone, without any recorded change
    snapshot_titles = bundled_snapshot(DEFAULT_DIVISION).titles
    stored_source = _stored_source(source)
    now = datetime.now(UTC)
    result = FeedChanges()

    def record(day: date, change: str, title: str | None) -> None:
        row = rows.get(day)
        holiday = change == "added"
        reason = stored_source
        if row is None:
            session.add(
                CalendarChange(
                    division=DEFAULT_DIVISION,
                    day=day,
                    change=change,
                    title=_title(title),
                    source=stored_source,
                    recorded_at=now,
                )
            )
        elif base.is_working_day(day) != holiday:
            # The bundled snapshot already says what the feed now says: the earlier refresh's
            # row is obsolete, and deleting it returns the day to the snapshot.
            session.delete(row)
            reason = f"{stored_source}; reverts the change recorded from {row.source}"
        else:
            reason = f"{stored_source}; replaces the change recorded from {row.source}"
            row.change, row.title, row.source, row.recorded_at = (
                change,
                _title(title),
                stored_source,
                now,
            )
        audit(
            session,
            actor,
            ACTION_ADDED if holiday else ACTION_REMOVED,
            None,
            f"calendar {day.isoformat()}",
            "bank holiday",
            None if holiday else title,
            title if holiday else None,
            reason,
        )

    for day, title in added:
        row = rows.get(day)
        if row is not None and not is_feed_source(row.source):
            result.kept.append(day)
            continue
        record(day, "added", title)
        result.added.append((day, title))
    for day in removed:
        row = rows.get(day)
        if row is not None and not is_feed_source(row.source):
            result.kept.append(day)
            continue
        old_title = (row.title if row is not None else None) or snapshot_titles.get(day)
        record(day, "removed", old_title or "Bank holiday")
        result.removed.append(day)
    result.kept.sort()
    session.flush()
    return result


# -- the copy of the last good feed -----------------------------------------------------------


def default_copy_path() -> Path:
    """Where the last good feed is kept: ``$STATCLOCK_BANK_HOLIDAYS_COPY``, else
    ``var/bank-holidays.json`` under the working directory (beside the default register)."""
    setting = os.environ.get(COPY_SETTING)
    return Path(setting) if setting else Path.cwd() / "var" / "bank-holidays.json"


def save_feed(path: Path | str, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically: readers see the old file or the new one.

    The directory is created if needed; the file is written beside the target, flushed to disk
    and renamed over it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2, ensure_ascii=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
