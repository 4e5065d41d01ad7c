"""The England and Wales working-day calendar (SI 2007/462 reg 1(2))."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock.calendar import (
    CalendarError,
    HolidayList,
    WorkingDayCalendar,
    bundled_snapshot,
    default_calendar,
    package_holidays,
    parse_govuk_feed,
)

# The one-off holidays any calendar must get right (docs/statutory-rules.md), and the usual
# holiday each one displaced, which must then be a working day.
ONE_OFFS = [
    pytest.param(date(2011, 4, 29), None, id="2011-royal-wedding"),
    pytest.param(date(2012, 6, 5), date(2012, 5, 28), id="2012-diamond-jubilee"),
    pytest.param(date(2020, 5, 8), date(2020, 5, 4), id="2020-ve-day"),
    pytest.param(date(2022, 6, 3), date(2022, 5, 30), id="2022-platinum-jubilee"),
    pytest.param(date(2022, 9, 19), None, id="2022-state-funeral"),
    pytest.param(date(2023, 5, 8), None, id="2023-coronation"),
]
MOVED_HOLIDAYS = [date(2012, 6, 4), date(2022, 6, 2)]


@pytest.mark.parametrize(("one_off", "displaced"), ONE_OFFS)
def test_one_off_bank_holiday_is_not_a_working_day(one_off, displaced):
    cal = default_calendar()
    assert one_off in bundled_snapshot().dates
    assert not cal.is_working_day(one_off)
    if displaced is not None:
        assert cal.is_working_day(displaced), f"{displaced} was moved and is a working day"


@pytest.mark.parametrize("moved_to", MOVED_HOLIDAYS, ids=str)
def test_moved_late_may_holiday(moved_to):
    assert not default_calendar().is_working_day(moved_to)


def test_snapshot_matches_the_holidays_package_and_lists_no_weekends():
    snapshot = bundled_snapshot()
    for year in (2010, 2016, 2017, 2021, 2026):
        expected = set(package_holidays([year]))
        assert {d for d in snapshot.dates if d.year == year} == expected
    assert all(d.weekday() < 5 for d in snapshot.dates)
    # Easter Monday and the August holiday are exactly what country_holidays("GB") alone drops.
    assert date(2017, 4, 17) in snapshot.dates and date(2017, 8, 28) in snapshot.dates


def test_substitute_days():
    cal = default_calendar()
    # Christmas 2021 fell on a Saturday: substitute days Mon 27 and Tue 28 December.
    assert not cal.is_working_day(date(2021, 12, 27))
    assert not cal.is_working_day(date(2021, 12, 28))
    assert cal.is_working_day(date(2021, 12, 29))


def test_years_outside_the_snapshot_come_from_the_holidays_package():
    cal = WorkingDayCalendar()
    assert cal.source_of_year(2040) == "holidays package"
    assert cal.source_of_year(2017) == "bundled snapshot"
    # Easter 2040 is 1 April: Good Friday 30 March, Easter Monday 2 April.
    assert not cal.is_working_day(date(2040, 4, 2))
    assert cal.add_working_days(date(2040, 3, 29), 1) == date(2040, 4, 3)


def _feed(events):
    return {"england-and-wales": {"division": "england-and-wales", "events": events}}


def test_refreshed_feed_replaces_the_snapshot_for_the_years_it_covers():
    # A refreshed feed for 2026-2027 that (hypothetically) announces an extra day in 2027.
    extra = date(2027, 7, 5)
    events = [
        {"title": "Bank holiday", "date": d.isoformat(), "notes": "", "bunting": True}
        for d in package_holidays([2026, 2027])
    ]
    events.append({"title": "Extra day", "date": extra.isoformat(), "notes": "", "bunting": True})
    refreshed = parse_govuk_feed(_feed(events), source="test feed")
    cal = WorkingDayCalendar(refreshed=refreshed)
    assert cal.source_of_year(2027) == "test feed"
    assert cal.source_of_year(2025) == "bundled snapshot"
    assert not cal.is_working_day(extra)
    assert cal.add_working_days(date(2027, 7, 2), 1) == date(2027, 7, 6)


def test_operator_added_and_removed_days_take_precedence():
    added, removed = date(2030, 6, 14), date(2030, 8, 26)  # a Friday; the August holiday
    cal = WorkingDayCalendar(added=[added], removed=[removed])
    assert not cal.is_working_day(added)
    assert cal.is_working_day(removed)
    assert removed not in cal.bank_holidays(2030) and added in cal.bank_holidays(2030)


def test_statutory_days_cannot_be_removed():
    good_friday, christmas = date(2026, 4, 3), date(2026, 12, 25)
    cal = WorkingDayCalendar(removed=[good_friday, christmas])
    assert not cal.is_working_day(good_friday)
    assert not cal.is_working_day(christmas)


def test_malformed_feed_names_the_field():
    with pytest.raises(CalendarError, match=r"events\[1\]\.date is '2026-13-01'"):
        parse_govuk_feed(
            _feed([{"title": "a", "date": "2026-01-01"}, {"title": "b", "date": "2026-13-01"}]),
            source="feed",
        )
    with pytest.raises(CalendarError, match="missing division 'england-and-wales'"):
        parse_govuk_feed({"scotland": {}}, source="feed")
    with pytest.raises(CalendarError, match="unknown 'wales'"):
        WorkingDayCalendar(division="wales")


def test_anchor_is_not_counted_and_zero_returns_the_anchor():
    cal = default_calendar()
    friday = date(2017, 9, 1)
    assert cal.add_working_days(friday, 1) == date(2017, 9, 4)  # the Monday after
    assert cal.add_working_days(date(2017, 9, 2), 1) == date(2017, 9, 4)  # from a Saturday
    assert cal.add_working_days(friday, 0) == friday
    assert cal.add_working_days(date(2017, 9, 4), -1) == friday
    assert cal.working_days_between(friday, date(2017, 9, 4)) == 1


def _naive_nth_working_day(cal, anchor, n):
    day, counted = anchor, 0
    while counted < n:
        day += timedelta(days=1)
        if cal.is_working_day(day):
            counted += 1
    return day


anchors = st.dates(min_value=date(2005, 1, 1), max_value=date(2038, 12, 31))
counts = st.integers(min_value=1, max_value=120)


@settings(max_examples=300, deadline=None)
@given(anchor=anchors, n=counts)
def test_nth_working_day_properties(anchor, n):
    cal = default_calendar()
    due = cal.add_working_days(anchor, n)
    assert cal.is_working_day(due)
    assert cal.working_days_between(anchor, due) == n  # exactly N working days in (anchor, due]
    assert due == _naive_nth_working_day(cal, anchor, n)


@settings(max_examples=300, deadline=None)
@given(first=anchors, gap=st.integers(min_value=0, max_value=400), n=counts)
def test_later_anchor_never_gives_an_earlier_due_date(first, gap, n):
    cal = default_calendar()
    later = first + timedelta(days=gap)
    assert cal.add_working_days(later, n) >= cal.add_working_days(first, n)


@settings(max_examples=200, deadline=None)
@given(anchor=anchors, n=counts)
def test_backwards_is_the_inverse_on_working_days(anchor, n):
    cal = default_calendar()
    due = cal.add_working_days(anchor, n)
    back = cal.add_working_days(due, -n)
    # Back on the anchor if it is a working day, else on the last working day before it.
    assert back <= anchor
    assert cal.working_days_between(back, anchor) == 0
    assert cal.is_working_day(back)


def test_holiday_list_years():
    assert HolidayList("x", frozenset()).years == range(0)
