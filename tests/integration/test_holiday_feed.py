"""Refreshing bank holidays from a GOV.UK-shaped feed served by a real local HTTP server.

The register tests run on both real databases (SQLite file and PostgreSQL server).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from statutory_clock.calendar import (
    CalendarError,
    WorkingDayCalendar,
    bundled_snapshot,
    default_calendar,
)
from statutory_clock.holiday_feed import (
    ACTION_ADDED,
    ACTION_REMOVED,
    FEED_SOURCE_PREFIX,
    FeedChanges,
    FeedError,
    apply_feed,
    default_copy_path,
    diff_against_calendar,
    fetch_feed,
    save_feed,
    validate_feed,
)
from statutory_clock.store import db, register
from statutory_clock.store.casefile import parse_case_text
from statutory_clock.store.models import AuditEvent, CalendarChange
from tests.integration.feed_server import (
    BAD_DATE,
    CASE_2027,
    DROPPED,
    FeedServer,
    feed_payload,
    feed_server,
)

EXTRA_DAY = date(2027, 6, 7)
DROPPED_DAY = date.fromisoformat(DROPPED)
DROPPED_TITLE = bundled_snapshot().titles[DROPPED_DAY]  # "Late Summer Bank Holiday"
ACTOR = "tester"

# An ILACS inspection published on Thursday 20 May 2027: the report is due 30 working days later
# (2 July) across the extra holiday, and the written statement of action 70 working days later
# (27 August) across both the extra holiday and the dropped one.
AS_OF = date(2027, 5, 24)


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def _feed(server: FeedServer, path: str = "/bank-holidays.json"):
    url = server.url(path)
    return validate_feed(fetch_feed(url), source=url)


def _load_case(engine) -> None:
    with db.transaction(engine) as session:
        register.import_case(session, parse_case_text(CASE_2027, "testshire.yaml"), ACTOR, AS_OF)


def _dues(engine) -> dict[str, tuple[date, int]]:
    with db.transaction(engine) as session:
        case = register.get_case(session, "testshire-2027")
        return {m.milestone_id: (m.due, m.due_version) for m in case.milestones}


def _dump(engine) -> dict[str, list[tuple]]:
    """Every row of the tables a refresh could touch, to prove nothing changed."""
    tables = ("calendar_change", "audit_event", "milestone", "inspection")
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
            for t in tables
        }


# -- fetching and validating (no database) -----------------------------------------------------


def test_fetch_and_validate_a_real_shaped_feed(server):
    payload = fetch_feed(server.url("/bank-holidays.json"))
    assert set(payload) == {"england-and-wales", "scotland", "northern-ireland"}
    feed = validate_feed(payload, source="test feed")
    assert feed.years == range(2025, 2028)
    assert EXTRA_DAY in feed.dates and feed.titles[EXTRA_DAY] == "Extra bank holiday"
    assert DROPPED_DAY not in feed.dates
    assert date(2025, 12, 25) in feed.dates


def test_diff_against_the_bundled_calendar(server):
    added, removed = diff_against_calendar(_feed(server), default_calendar())
    assert added == [(EXTRA_DAY, "Extra bank holiday")]
    assert removed == [DROPPED_DAY]
    unchanged = _feed(server, "/unchanged.json")
    assert diff_against_calendar(unchanged, default_calendar()) == ([], [])


def test_diff_never_removes_christmas_good_friday_or_weekends():
    payload = feed_payload(changed=False)
    events = payload["england-and-wales"]["events"]
    rule_0 = {"2027-03-26", "2026-12-25", "2025-12-25"}  # Good Friday, two Christmas Days
    payload["england-and-wales"]["events"] = [e for e in events if e["date"] not in rule_0] + [
        {"title": "A Saturday", "date": "2027-06-05"}
    ]
    feed = validate_feed(payload, source="test feed")
    added, removed = diff_against_calendar(feed, default_calendar())
    assert (added, removed) == ([], [])  # a Saturday is never a working day to begin with


@pytest.mark.parametrize(
    ("path", "problem", "transient"),
    [
        ("/error", "HTTP 500 Internal Server Error, expected 200", True),
        ("/missing", "HTTP 404 Not Found, expected 200", False),
        ("/page.html", "not JSON (Content-Type text/html; charset=utf-8)", False),
        ("/list.json", "expected a JSON object at the top level, got list", False),
    ],
)
def test_fetch_refuses_what_is_not_a_feed(server, path, problem, transient):
    url = server.url(path)
    with pytest.raises(FeedError) as raised:
        fetch_feed(url)
    assert str(raised.value) == f"{url}: {problem}"
    assert raised.value.transient is transient


def test_fetch_reports_network_failures_in_one_line(server):
    with pytest.raises(FeedError, match=r"^http://127\.0\.0\.1:1/x: cannot fetch: .*refused"):
        fetch_feed("http://127.0.0.1:1/x", timeout=2)
    with pytest.raises(FeedError) as raised:
        fetch_feed(server.url("/slow.json"), timeout=0.5)
    assert str(raised.value) == f"{server.url('/slow.json')}: no answer within 0.5 s"
    assert raised.value.transient and "\n" not in str(raised.value)


def test_a_malformed_feed_is_refused_naming_the_field(server):
    url = server.url("/broken.json")
    payload = fetch_feed(url)  # it is JSON: fetching succeeds, validating does not
    with pytest.raises(CalendarError) as raised:
        validate_feed(payload, source=url)
    message = str(raised.value)
    assert message.startswith(f"{url}: england-and-wales.events[")
    assert f"].date is '{BAD_DATE}', not YYYY-MM-DD" in message


def test_a_truncated_feed_is_refused(server):
    url = server.url("/truncated.json")
    with pytest.raises(CalendarError, match=r"would remove 5 bank holidays .*2027-05-03, "):
        validate_feed(fetch_feed(url), source=url)


# -- recording changes in the register (both databases) -----------------------------------------


def test_apply_feed_changes_the_calendar_and_moves_deadlines(register_engine, server):
    _load_case(register_engine)
    before = _dues(register_engine)
    assert before["publish_report"] == (date(2027, 7, 2), 1)
    assert before["written_statement_of_action"] == (date(2027, 8, 27), 1)

    url = server.url("/bank-holidays.json")
    with db.transaction(register_engine) as session:
        changes = apply_feed(session, _feed(server), ACTOR, url)
    assert changes == FeedChanges(added=[(EXTRA_DAY, "Extra bank holiday")], removed=[DROPPED_DAY])
    assert changes.changed

    with db.transaction(register_engine) as session:
        calendar = register.calendar_for(session)
        rows = session.execute(select(CalendarChange).order_by(CalendarChange.day)).scalars().all()
        audits = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.action.like("bank holiday%"))
                .order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
    assert not calendar.is_working_day(EXTRA_DAY)
    assert calendar.is_working_day(DROPPED_DAY)
    assert EXTRA_DAY in calendar.bank_holidays(2027) and DROPPED_DAY not in calendar.bank_holidays(
        2027
    )
    assert [(r.division, r.day, r.change, r.title) for r in rows] == [
        ("england-and-wales", EXTRA_DAY, "added", "Extra bank holiday"),
        ("england-and-wales", DROPPED_DAY, "removed", DROPPED_TITLE),
    ]
    assert all(r.source == f"{FEED_SOURCE_PREFIX} {url}" for r in rows)
    assert [(a.action, a.entity, a.old, a.new, a.inspection_key) for a in audits] == [
        (ACTION_ADDED, "calendar 2027-06-07", None, "Extra bank holiday", None),
        (ACTION_REMOVED, "calendar 2027-08-30", DROPPED_TITLE, None, None),
    ]

    # The calendar changed; the milestones follow when the register is recomputed.
    with db.transaction(register_engine) as session:
        results = register.recompute_all(session, as_of=AS_OF, actor=ACTOR)
    after = _dues(register_engine)
    for milestone in ("publish_report", "written_statement_of_action"):
        old_due, new_due = before[milestone][0], after[milestone][0]
        assert new_due == calendar.add_working_days(old_due, 1), milestone
        assert calendar.working_days_between(old_due, new_due) == 1
        assert after[milestone][1] == 2  # due_version: fresh reminders and one notice
    assert after["publish_report"][0] == date(2027, 7, 5)
    assert after["written_statement_of_action"][0] == date(2027, 8, 30)
    moved = {m: (old, new) for r in results for m, old, new in r.moved}
    assert moved["publish_report"] == (date(2027, 7, 2), date(2027, 7, 5))
    with db.transaction(register_engine) as session:
        deadline_audits = session.execute(
            select(AuditEvent.entity, AuditEvent.old, AuditEvent.new).where(
                AuditEvent.action == "deadline moved", AuditEvent.inspection_key == "testshire-2027"
            )
        ).all()
    assert ("milestone publish_report", "2027-07-02", "2027-07-05") in deadline_audits
    assert ("milestone written_statement_of_action", "2027-08-27", "2027-08-30") in deadline_audits


def test_applying_the_same_feed_again_records_nothing(register_engine, server):
    feed = _feed(server)
    with db.transaction(register_engine) as session:
        assert apply_feed(session, feed, ACTOR, "first").changed
    before = _dump(register_engine)
    with db.transaction(register_engine) as session:
        again = apply_feed(session, feed, ACTOR, "second")
    assert again == FeedChanges() and not again.changed
    assert _dump(register_engine) == before


@pytest.mark.parametrize(
    ("path", "error", "names"),
    [
        ("/broken.json", CalendarError, "england-and-wales.events["),
        ("/truncated.json", CalendarError, "england-and-wales.events would remove"),
        ("/page.html", FeedError, "not JSON"),
        ("/error", FeedError, "HTTP 500"),
    ],
)
def test_broken_feeds_leave_the_register_unchanged(register_engine, server, path, error, names):
    _load_case(register_engine)
    before = _dump(register_engine)
    url = server.url(path)
    with (
        pytest.raises(error, match=f"^{url}: .*") as raised,
        db.transaction(register_engine) as session,
    ):
        apply_feed(session, validate_feed(fetch_feed(url), source=url), ACTOR, url)
    assert names in str(raised.value)
    assert _dump(register_engine) == before
    with db.transaction(register_engine) as session:
        assert register.calendar_for(session).bank_holidays(
            2027
        ) == default_calendar().bank_holidays(2027)


def test_a_later_feed_reverts_an_earlier_refresh(register_engine, server):
    with db.transaction(register_engine) as session:
        apply_feed(session, _feed(server), ACTOR, "changed feed")
    with db.transaction(register_engine) as session:
        changes = apply_feed(session, _feed(server, "/unchanged.json"), ACTOR, "corrected feed")
    assert changes.added == [(DROPPED_DAY, DROPPED_TITLE)]
    assert changes.removed == [EXTRA_DAY]
    with db.transaction(register_engine) as session:
        assert session.execute(select(CalendarChange)).scalars().all() == []  # back to the snapshot
        calendar = register.calendar_for(session)
        reasons = session.execute(
            select(AuditEvent.action, AuditEvent.entity, AuditEvent.reason)
            .where(AuditEvent.reason.like("%corrected feed%"))
            .order_by(AuditEvent.id)
        ).all()
    assert calendar.bank_holidays(2027) == default_calendar().bank_holidays(2027)
    assert reasons == [
        (
            ACTION_ADDED,
            "calendar 2027-08-30",
            f"{FEED_SOURCE_PREFIX} corrected feed; reverts the change recorded from "
            f"{FEED_SOURCE_PREFIX} changed feed",
        ),
        (
            ACTION_REMOVED,
            "calendar 2027-06-07",
            f"{FEED_SOURCE_PREFIX} corrected feed; reverts the change recorded from "
            f"{FEED_SOURCE_PREFIX} changed feed",
        ),
    ]


def test_an_opposite_feed_row_is_updated_in_place(register_engine, server):
    # A redundant row from an earlier refresh (the snapshot already has 31 May 2027), e.g. left
    # by a feed applied before the snapshot was regenerated. The changed feed still lists 31 May;
    # a feed without it must turn the row into a removal rather than add a second row.
    spring = date(2027, 5, 31)
    payload = feed_payload()
    payload["england-and-wales"]["events"] = [
        e for e in payload["england-and-wales"]["events"] if e["date"] != spring.isoformat()
    ]
    with db.transaction(register_engine) as session:
        session.add(
            CalendarChange(
                division="england-and-wales",
                day=spring,
                change="added",
                title="Spring bank holiday",
                source=f"{FEED_SOURCE_PREFIX} an old feed",
                recorded_at=datetime.now(UTC),
            )
        )
    with db.transaction(register_engine) as session:
        changes = apply_feed(session, validate_feed(payload, source="feed"), ACTOR, "newer feed")
    assert changes.removed == [spring, DROPPED_DAY]
    with db.transaction(register_engine) as session:
        row = session.execute(
            select(CalendarChange).where(CalendarChange.day == spring)
        ).scalar_one()
        assert (row.change, row.source) == ("removed", f"{FEED_SOURCE_PREFIX} newer feed")
        assert register.calendar_for(session).is_working_day(spring)
        reason = session.execute(
            select(AuditEvent.reason).where(AuditEvent.entity == "calendar 2027-05-31")
        ).scalar_one()
    assert reason.endswith(f"replaces the change recorded from {FEED_SOURCE_PREFIX} an old feed")


def test_operator_changes_outrank_the_feed(register_engine, server):
    cancelled, announced = date(2027, 5, 31), date(2027, 7, 12)  # operator: cancelled / added
    now = datetime.now(UTC)
    with db.transaction(register_engine) as session:
        for day, change in ((cancelled, "removed"), (announced, "added")):
            session.add(
                CalendarChange(
                    division="england-and-wales",
                    day=day,
                    change=change,
                    title="Operator",
                    source="operator: A. Manager",
                    recorded_at=now,
                )
            )
    with db.transaction(register_engine) as session:
        changes = apply_feed(session, _feed(server), ACTOR, "feed")
    assert changes.kept == [cancelled, announced]
    assert changes.added == [(EXTRA_DAY, "Extra bank holiday")]
    assert changes.removed == [DROPPED_DAY]
    with db.transaction(register_engine) as session:
        calendar = register.calendar_for(session)
        sources = {
            day: source
            for day, source in session.execute(select(CalendarChange.day, CalendarChange.source))
        }
        again = apply_feed(session, _feed(server), ACTOR, "feed")
    assert calendar.is_working_day(cancelled) and not calendar.is_working_day(announced)
    assert sources[cancelled] == sources[announced] == "operator: A. Manager"
    assert again.kept == [cancelled, announced] and not again.changed


# -- the copy of the last good feed ----------------------------------------------------------


def test_save_feed_writes_atomically_and_replaces(tmp_path: Path, monkeypatch):
    target = tmp_path / "var" / "bank-holidays.json"
    first, second = feed_payload(changed=False), feed_payload()
    assert save_feed(target, first) == target
    assert json.loads(target.read_text("utf-8")) == first
    save_feed(str(target), second)
    assert json.loads(target.read_text("utf-8")) == second
    assert [p.name for p in target.parent.iterdir()] == ["bank-holidays.json"]  # no temp files
    monkeypatch.setenv("STATCLOCK_BANK_HOLIDAYS_COPY", str(tmp_path / "copy.json"))
    assert default_copy_path() == tmp_path / "copy.json"
    monkeypatch.delenv("STATCLOCK_BANK_HOLIDAYS_COPY")
    monkeypatch.chdir(tmp_path)
    assert default_copy_path() == tmp_path / "var" / "bank-holidays.json"


def test_the_engine_module_does_not_import_airflow():
    check = (
        "import sys, statutory_clock.holiday_feed\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] == 'airflow')\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_calendar_of_an_empty_register_is_the_snapshot(register_engine):
    with db.transaction(register_engine) as session:
        calendar = register.calendar_for(session)
    assert isinstance(calendar, WorkingDayCalendar)
    assert calendar.bank_holidays(2027) == default_calendar().bank_holidays(2027)
