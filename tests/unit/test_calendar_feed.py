"""The calendar feeds' iCalendar, built from read-model values and parsed back with a real
iCalendar parser: the same UID and SEQUENCE as the reminder emails' attachment, all-day events
on the effective due date, the citation and basis in the description, done milestones kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar

from statutory_clock.calendar_feed import (
    PORTFOLIO_NAME,
    FeedCase,
    council_feed,
    feed_stamp,
    portfolio_feed,
)
from statutory_clock.ical import deadline_uid
from statutory_clock.reminders import ReminderItem, ics_for
from statutory_clock.store.read_model import TimelineEntry

AS_OF = date(2017, 12, 4)
PAGES = "https://airflow.council.example/statclock"


def entry(milestone: str, due: date, **changes: object) -> TimelineEntry:
    base = TimelineEntry(
        id=milestone,
        title=f"Title of {milestone}",
        status="upcoming",
        party="council",
        forecast_due=due,
        effective_due=due,
        window_start=None,
        actual=None,
        extended_to=None,
        waived=False,
        adjustment_reason=None,
        agreed_by=None,
        owner=None,
        rule=f"sif.{milestone}",
        source=f"SI 2007/462 reg 3 ({milestone})",
        basis=f"70 working days after 2017-09-04 (publication) for {milestone}",
        confidence="high",
        kind="statutory",
        due_version=1,
        act_by=due,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


WSOA = entry("written_statement_of_action", date(2017, 12, 11), status="due", due_version=3)
VISIT = entry(
    "action_planning_visit",
    date(2017, 10, 23),
    party="ofsted",
    status="met",
    actual=date(2017, 10, 10),
    window_start=date(2017, 10, 9),
    confidence="unverified",
)
PUBLISH = entry("publish_report", date(2017, 10, 16), status="overdue")
EXTENDED = entry(
    "case_audits",
    date(2017, 11, 1),
    effective_due=date(2017, 11, 15),
    extended_to=date(2017, 11, 15),
    agreed_by="Ofsted",
    adjustment_reason="Lead inspector on leave",
    due_version=2,
)
WAIVED = entry(
    "recommendation_1",
    date(2017, 11, 20),
    status="waived",
    waived=True,
    agreed_by="DfE",
    adjustment_reason="Superseded by the improvement notice",
)
CASE = FeedCase(
    key="croydon-2017",
    authority="London Borough of Croydon",
    state="open",
    as_of=AS_OF,
    timeline=(VISIT, PUBLISH, EXTENDED, WAIVED, WSOA),
    changed_at=datetime(2017, 12, 4, 14, 30, 5, 123456, tzinfo=UTC),
)


def events(text: str) -> dict[str, object]:
    cal = Calendar.from_ical(text)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def reminder_item(case: FeedCase, e: TimelineEntry) -> ReminderItem:
    """The reminder item outbox.case_items makes of a milestone."""
    return ReminderItem(
        item=f"milestone:{e.id}",
        case_key=case.key,
        authority=case.authority,
        title=e.title,
        due=e.effective_due,
        due_version=e.due_version,
        needed=e.title,
        basis=e.basis,
        source=e.source,
        rule=e.rule,
        confidence=e.confidence,
        owner=None,
        owner_email=None,
        escalation_email=None,
        done=False,
    )


def test_every_milestone_is_an_all_day_event_with_the_reminders_uid_and_sequence():
    feed = events(council_feed(CASE, PAGES))
    assert len(feed) == len(CASE.timeline)  # met, overdue, waived: every one stays
    for e in CASE.timeline:
        attachment = Calendar.from_ical(
            ics_for(reminder_item(CASE, e), datetime(2017, 12, 4, 9, tzinfo=UTC))
        )
        (mailed,) = attachment.walk("VEVENT")
        uid = str(mailed["uid"])
        assert (
            uid
            == f"croydon-2017-milestone-{e.id}@statclock"
            == deadline_uid(CASE.key, f"milestone:{e.id}")
        )
        event = feed[uid]
        assert event.decoded("sequence") == mailed.decoded("sequence") == e.due_version
        assert event.decoded("dtstart") == mailed.decoded("dtstart") == e.effective_due
        assert type(event.decoded("dtstart")) is date  # all day: a DATE, not a DATE-TIME
        assert event.decoded("dtend") == e.effective_due + timedelta(days=1)
        assert str(event["transp"]) == "TRANSPARENT"
        text = str(event["description"])
        assert f"Basis: {e.basis}" in text
        assert f"Source: {e.source}" in text
        assert f"Council page: {PAGES}/councils/croydon-2017" in text
        assert str(event["url"]) == f"{PAGES}/councils/croydon-2017"


def test_the_extended_date_is_the_event_date_and_the_description_says_who_agreed():
    event = events(council_feed(CASE))[deadline_uid(CASE.key, "milestone:case_audits")]
    assert event.decoded("dtstart") == date(2017, 11, 15)
    assert event.decoded("sequence") == 2
    text = str(event["description"])
    assert (
        "Extended from Wednesday 1 November 2017 to Wednesday 15 November 2017 "
        "(agreed by Ofsted: Lead inspector on leave)" in text
    )
    assert "url" not in event  # no base address known: no link


def test_the_summary_names_the_council_and_the_status_unless_upcoming():
    feed = events(council_feed(CASE))
    summaries = {uid.split("-milestone-")[1]: str(e["summary"]) for uid, e in feed.items()}
    assert summaries == {
        "written_statement_of_action@statclock": (
            "London Borough of Croydon: Title of written_statement_of_action (due soon)"
        ),
        "action_planning_visit@statclock": (
            "London Borough of Croydon: Title of action_planning_visit "
            "(met on Tuesday 10 October 2017)"
        ),
        "publish_report@statclock": "London Borough of Croydon: Title of publish_report (overdue)",
        "case_audits@statclock": "London Borough of Croydon: Title of case_audits",
        "recommendation_1@statclock": (
            "London Borough of Croydon: Title of recommendation_1 (waived)"
        ),
    }


def test_the_description_says_whose_act_the_status_and_the_window():
    visit = events(council_feed(CASE))[deadline_uid(CASE.key, "milestone:action_planning_visit")]
    lines = str(visit["description"]).split("\n")
    assert "Whose act: Ofsted" in lines
    assert "Status on Monday 4 December 2017: Met, done on Tuesday 10 October 2017" in lines
    assert "Window: from Monday 9 October 2017 to Monday 23 October 2017" in lines
    assert any(line.startswith("Source: ") and "unverified" in line for line in lines)
    waived = events(council_feed(CASE))[deadline_uid(CASE.key, "milestone:recommendation_1")]
    assert "Waived (agreed by DfE: Superseded by the improvement notice)" in str(
        waived["description"]
    )


def test_the_calendar_is_published_named_and_refreshed_hourly():
    cal = Calendar.from_ical(council_feed(CASE))
    assert str(cal["method"]) == "PUBLISH"
    assert str(cal["version"]) == "2.0"
    assert str(cal["prodid"]) == "-//statclock//Statutory clock//EN"
    assert str(cal["x-wr-calname"]) == "statclock – London Borough of Croydon"
    assert cal.decoded("refresh-interval") == timedelta(hours=1)
    assert str(cal["x-published-ttl"].to_ical().decode()) == "PT1H"
    portfolio = Calendar.from_ical(portfolio_feed([CASE], AS_OF))
    assert str(portfolio["x-wr-calname"]) == PORTFOLIO_NAME == "statclock – portfolio"


def test_the_same_register_on_the_same_day_gives_the_same_bytes():
    assert council_feed(CASE, PAGES) == council_feed(replace(CASE), PAGES)
    # DTSTAMP: the case's last change (to the second) when after midnight of the day...
    stamps = {e.decoded("dtstamp") for e in events(council_feed(CASE)).values()}
    assert stamps == {datetime(2017, 12, 4, 14, 30, 5, tzinfo=UTC)}
    # ... else midnight UTC of the day, so it still moves forward as days pass.
    older = replace(CASE, changed_at=datetime(2017, 11, 1, 9, tzinfo=UTC))
    assert feed_stamp(older) == datetime(2017, 12, 4, tzinfo=UTC)
    assert feed_stamp(replace(older, as_of=date(2017, 12, 5))) == datetime(2017, 12, 5, tzinfo=UTC)
    # SQLite hands the instant back without its zone: it is UTC.
    naive = replace(CASE, changed_at=datetime(2017, 12, 4, 14, 30, 5))
    assert feed_stamp(naive) == feed_stamp(CASE)


def test_the_portfolio_holds_every_case_events_each_with_its_own_uid():
    other = replace(
        CASE,
        key="tower-hamlets-2017",
        authority="London Borough of Tower Hamlets",
        timeline=(WSOA,),
        changed_at=None,
    )
    feed = events(portfolio_feed([CASE, other], AS_OF, PAGES))
    assert len(feed) == len(CASE.timeline) + 1
    theirs = feed["tower-hamlets-2017-milestone-written_statement_of_action@statclock"]
    assert str(theirs["summary"]).startswith("London Borough of Tower Hamlets: ")
    assert str(theirs["url"]) == f"{PAGES}/councils/tower-hamlets-2017"
    assert theirs.decoded("dtstamp") == datetime(2017, 12, 4, tzinfo=UTC)
    assert "croydon-2017-milestone-written_statement_of_action@statclock" in feed


def test_hostile_text_stays_inside_its_property():
    nasty = replace(
        WSOA,
        title="Plan\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:forged@evil",
        basis="a; b, c\\d",
    )
    feed = events(council_feed(replace(CASE, timeline=(nasty,))))
    assert list(feed) == [deadline_uid(CASE.key, "milestone:written_statement_of_action")]
    (event,) = feed.values()
    assert "Basis: a; b, c\\d" in str(event["description"])


def test_lines_are_folded_at_75_octets_and_read_back_whole():
    long_title = "Réunion du conseil – “plan d’action” ✅ " * 12 + "x" * 200
    basis = "a\\b; c, d\r\ne\rf\x00g\th"
    case = replace(CASE, timeline=(replace(WSOA, title=long_title, basis=basis),))
    raw = council_feed(case, PAGES).encode("utf-8")
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in physical) <= 75
    for line in physical:
        line.decode("utf-8")  # never folded inside a character
    (event,) = events(raw.decode("utf-8")).values()
    assert str(event["summary"]) == f"London Borough of Croydon: {long_title} (due soon)"
    # CRLF and CR are line breaks, other control characters spaces; the tab is kept.
    assert "Basis: a\\b; c, d\ne\nf g\th" in str(event["description"])


def test_a_page_address_cannot_break_out_of_its_line():
    (event,) = events(
        council_feed(replace(CASE, timeline=(WSOA,)), "http://x/\r\nUID:forged y")
    ).values()
    assert str(event["url"]) == "http://x/UID:forgedy/councils/croydon-2017"
    assert str(event["uid"]) == deadline_uid(CASE.key, "milestone:written_statement_of_action")


def test_a_due_date_that_is_not_a_working_day_says_when_to_act_by():
    # Sunday 31 December 2017: the council acts by Friday 29 December (1 January is a holiday).
    sunday = entry("recommendation_2", date(2017, 12, 31), act_by=date(2017, 12, 29))
    case = replace(CASE, timeline=(sunday,))
    (event,) = events(council_feed(case)).values()
    lines = str(event["description"]).split("\n")
    assert "Due: Sunday 31 December 2017" in lines
    assert "Act by: Friday 29 December 2017 (the due date is not a working day)" in lines
    weekday = events(council_feed(CASE))[deadline_uid(CASE.key, "milestone:action_planning_visit")]
    assert "Act by" not in str(weekday["description"])
