"""Calendar feeds: each council's statutory deadlines, and the whole portfolio's, as iCalendar
(RFC 5545) that Outlook and other calendar apps subscribe to.

An output of the register (it reads the read model, never writes): one all-day event per
milestone on its effective due date (after any agreed extension), built by
:func:`statutory_clock.ical.deadline_event`, the same builder as the reminder emails'
attachment, so a feed's event and an email's have the same ``UID`` and ``SEQUENCE``:

- ``UID`` ``<case key>-milestone-<milestone id>@statclock``, stable across every recompute;
- ``SEQUENCE`` the milestone's ``due_version``: the register adds one whenever the date moves
  (a recompute, an extension granted or withdrawn), so clients move the entry, never add one.

Milestones that are done (met, missed, waived, or the case closed) stay in the feed, with what
happened in the title: an officer looks back at the calendar as well as forward.

``DTSTAMP`` is deterministic: the later of the case's last audited change and midnight (UTC)
of the day the feed is as of. The same register on the same day gives the same bytes, so a
client (or a cache) sees a changed feed only when something changed; the stamp still moves
forward whenever the register does, or a day passes (statuses change with the day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from statutory_clock.addresses import council_path
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.dates import long_date
from statutory_clock.ical import calendar, deadline_event
from statutory_clock.store.models import AuditEvent, Inspection
from statutory_clock.store.read_model import CaseState, CaseView, TimelineEntry, timeline
from statutory_clock.store.reading import calendar_for
from statutory_clock.vocabulary import STATUS_LABELS

REFRESH = timedelta(hours=1)  # REFRESH-INTERVAL and X-PUBLISHED-TTL
PORTFOLIO_NAME = "statclock – portfolio"
# A few hundred distinct days in a portfolio's thousands of events: write each once.
_long = lru_cache(maxsize=4096)(long_date)

_PARTY = {"council": "the council", "ofsted": "Ofsted", "dfe": "the DfE"}


@dataclass(frozen=True)
class FeedCase:
    """What a feed needs of one case: a :class:`CaseView` has it all (:meth:`of`); the
    portfolio feed reads only this much of every open case (:func:`open_cases`)."""

    key: str
    authority: str
    state: CaseState
    as_of: date
    timeline: tuple[TimelineEntry, ...]
    changed_at: datetime | None  # the case's last audited change

    @classmethod
    def of(cls, view: CaseView) -> FeedCase:
        changed = max((row.at for row in view.audit), key=_utc, default=None)
        return cls(view.key, view.authority, view.state, view.as_of, view.timeline, changed)


def open_cases(
    session: Session, as_of: date, calendar: WorkingDayCalendar | None = None
) -> list[FeedCase]:
    """Every open case by key, with its timeline as the read model gives it on ``as_of``.

    Three queries for the whole portfolio (cases, their milestones and authorities, and each
    case's last audited change) rather than a full :func:`case_view` per case, which also
    reads the action plan, reminders, packs and the whole audit trail a feed does not show.
    """
    calendar = calendar or calendar_for(session)
    cases = (
        session.execute(
            select(Inspection)
            .options(selectinload(Inspection.local_authority), selectinload(Inspection.milestones))
            .where(Inspection.open.is_(True))
            .order_by(Inspection.key)
        )
        .scalars()
        .all()
    )
    changed: dict[str, datetime] = {}
    if cases:
        for key, at in session.execute(
            select(AuditEvent.inspection_key, func.max(AuditEvent.at))
            .where(AuditEvent.inspection_key.in_([c.key for c in cases]))
            .group_by(AuditEvent.inspection_key)
        ):
            if key is not None and at is not None:
                changed[key] = at
    return [
        FeedCase(
            key=case.key,
            authority=case.local_authority.name,
            state="open",
            as_of=as_of,
            timeline=timeline(case, as_of, calendar),
            changed_at=changed.get(case.key),
        )
        for case in cases
    ]


def council_page(pages: str | None, key: str) -> str | None:
    """The council's page under ``pages`` (the app's root, e.g.
    ``http://localhost:8080/statclock``), if known."""
    return f"{pages.rstrip('/')}{council_path(key)}" if pages else None


def council_name(authority: str) -> str:
    return f"statclock – {authority}"


def council_feed(case: FeedCase | CaseView, pages: str | None = None) -> str:
    """One council's feed: every milestone of the case, done ones included."""
    case = case if isinstance(case, FeedCase) else FeedCase.of(case)
    return calendar(
        _events(case, pages),
        council_name(case.authority),
        f"Statutory deadlines of {case.authority} (case {case.key}), from statclock.",
        REFRESH,
    )


def portfolio_feed(
    cases: Sequence[FeedCase | CaseView], as_of: date, pages: str | None = None
) -> str:
    """The portfolio's feed: every milestone of every case given (the open ones, by key)."""
    events = [
        event
        for case in cases
        for event in _events(case if isinstance(case, FeedCase) else FeedCase.of(case), pages)
    ]
    return calendar(
        events,
        PORTFOLIO_NAME,
        f"Statutory deadlines of every open case in the register, as of {_long(as_of)}.",
        REFRESH,
    )


def _events(case: FeedCase, pages: str | None) -> list[list[str]]:
    stamp = feed_stamp(case)
    page = council_page(pages, case.key)
    return [
        deadline_event(
            case_key=case.key,
            item=f"milestone:{entry.id}",
            due=entry.effective_due,
            sequence=entry.due_version,
            summary=summary(case.authority, entry),
            description=description(case, entry, page),
            stamp=stamp,
            url=page,
        )
        for entry in case.timeline
    ]


def _utc(moment: datetime) -> datetime:
    # SQLite gives the stored UTC instant back without its zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def feed_stamp(case: FeedCase) -> datetime:
    """DTSTAMP: the later of the case's last audited change and midnight UTC of ``as_of``."""
    midnight = datetime.combine(case.as_of, time(), UTC)
    if case.changed_at is None:
        return midnight
    return max(midnight, _utc(case.changed_at).replace(microsecond=0))


def summary(authority: str, entry: TimelineEntry) -> str:
    """ "<authority>: <title>", with the status unless it is simply upcoming."""
    words = {
        "upcoming": "",
        "due": "due soon",
        "overdue": "overdue",
        "waived": "waived",
        "not_recorded": "date not recorded",
        "closed": "case closed",
    }
    if entry.status in ("met", "missed") and entry.actual is not None:
        state = f"{entry.status} on {_long(entry.actual)}"
    else:
        state = words.get(entry.status, entry.status)
    return f"{authority}: {entry.title}" + (f" ({state})" if state else "")


def description(case: FeedCase, entry: TimelineEntry, page: str | None) -> list[str]:
    """Whose act it is, the status, the window, any extension or waiver, the basis and the
    citation, and the council page."""
    lines = [
        f"Case {case.key}: {case.authority}",
        f"Whose act: {_PARTY.get(entry.party, entry.party)}",
        f"Status on {_long(case.as_of)}: {STATUS_LABELS.get(entry.status, entry.status)}"
        + (f", done on {_long(entry.actual)}" if entry.actual else ""),
        f"Due: {_long(entry.effective_due)}",
    ]
    if entry.act_by != entry.effective_due:
        lines.append(f"Act by: {_long(entry.act_by)} (the due date is not a working day)")
    if entry.window_start is not None:
        lines.append(f"Window: from {_long(entry.window_start)} to {_long(entry.effective_due)}")
    agreed = f" (agreed by {entry.agreed_by}: {entry.adjustment_reason})" if entry.agreed_by else ""
    if entry.extended_to is not None:
        lines.append(
            f"Extended from {_long(entry.forecast_due)} to {_long(entry.extended_to)}{agreed}"
        )
    if entry.waived:
        lines.append(f"Waived{agreed}")
    lines.append(f"Basis: {entry.basis}")
    unverified = entry.confidence == "unverified"
    lines.append(
        f"Source: {entry.source}"
        + (
            " (unverified in the rulebook: confirm with the Ofsted lead inspector)"
            if unverified
            else ""
        )
    )
    if page:
        lines.append(f"Council page: {page}")
    return lines
