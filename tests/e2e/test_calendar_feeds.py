"""Subscribing to the calendar feeds as Outlook would: the address `statclock feed url` prints,
fetched over HTTP from the running product with no Airflow login, parsed by a real iCalendar
parser, and every event matching the register's timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
from icalendar import Calendar

from tests.e2e.conftest import Product, case_view, open_cases


def feed_address(product: Product, *args: str) -> str:
    printed = product.statclock("feed", "url", *args)
    assert printed.returncode == 0, printed.stderr
    address = printed.stdout.strip()
    assert address.startswith(product.base_url + "/statclock/feeds/"), address
    return address


def subscribe(address: str) -> dict[str, Any]:
    """Fetch a feed as a calendar client does (no cookie, no Airflow token): its events by UID."""
    answer = httpx.get(address, timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(answer.content)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == len(calendar.walk("VEVENT")), "duplicate UIDs"
    return events


def expected_events(view: Any) -> dict[str, Any]:
    return {f"{view.key}-milestone-{e.id}@statclock": e for e in view.timeline}


def assert_matches(events: dict[str, Any], view: Any) -> None:
    for uid, entry in expected_events(view).items():
        assert uid in events, f"{uid} missing from the feed"
        event = events[uid]
        start = event.decoded("DTSTART")
        assert isinstance(start, date) and not isinstance(start, datetime), "not all-day"
        assert start == entry.effective_due, (uid, start, entry.effective_due)
        assert int(event["SEQUENCE"]) == entry.due_version, uid
        description = str(event.get("DESCRIPTION", ""))
        assert entry.source in description, (uid, description)


def test_a_councils_feed_is_its_timeline(product: Product, register) -> None:
    row = open_cases(register)[0]
    events = subscribe(feed_address(product, row.key))
    view = case_view(register, row.key)
    assert set(events) == set(expected_events(view))
    assert_matches(events, view)


def test_the_portfolio_feed_has_every_open_councils_deadlines(product: Product, register) -> None:
    events = subscribe(feed_address(product, "--portfolio"))
    expected: set[str] = set()
    for row in open_cases(register):
        view = case_view(register, row.key)
        expected |= set(expected_events(view))
        assert_matches(events, view)
    assert set(events) == expected


def test_without_its_token_a_feed_is_refused(product: Product, register) -> None:
    row, other = open_cases(register)[:2]
    address = feed_address(product, row.key)
    parts = urlsplit(address)
    token = parse_qs(parts.query)["token"][0]
    bare = urlunsplit(parts._replace(query=""))
    wrong = urlunsplit(parts._replace(query=f"token={token[:-2]}xx"))
    # The token of one council's feed opens only that feed.
    borrowed = address.replace(f"/feeds/{row.key}.ics", f"/feeds/{other.key}.ics")
    portfolio = address.replace(f"/feeds/{row.key}.ics", "/feeds/portfolio.ics")
    for refused in (bare, wrong, borrowed, portfolio):
        answer = httpx.get(refused, timeout=60)
        assert answer.status_code in (401, 403, 404), (refused, answer.status_code)
        assert b"BEGIN:VCALENDAR" not in answer.content
