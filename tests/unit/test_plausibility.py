"""Plausibility of the facts (issue 13, item 7): impossible facts are refused with exit 2 and one
line naming the field and the value; unusual but possible ones give a warning line on stderr and
a ``warnings`` list in the JSON."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock.calendar import HolidayList, WorkingDayCalendar, bundled_snapshot
from statutory_clock.cli import main
from statutory_clock.engine import CaseFacts, ClockBuilder, FactsError, compute_clock
from statutory_clock.plausibility import warnings

CROYDON = ["clock", "--framework", "sif", "--published", "2017-09-04", "--judgement", "inadequate"]
DIRECTED = [*CROYDON, "--direction", "2017-09-04"]


def events(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--event", pair)]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            [
                *CROYDON,
                *events("first_monitoring_visit=2018-02-06", "monitoring_visit_2=2018-01-20"),
            ],
            "--event monitoring_visit_2: '2018-01-20' is before first_monitoring_visit "
            "(2018-02-06)",
        ),
        (
            [
                *CROYDON,
                *events(
                    "first_monitoring_visit=2018-02-06",
                    "monitoring_visit_2=2018-05-01",
                    "monitoring_visit_3=2018-04-30",
                ),
            ],
            "--event monitoring_visit_3: '2018-04-30' is before monitoring_visit_2 (2018-05-01)",
        ),
        (  # a gap in the numbers: visit 3 still cannot come before visit 1
            [
                *CROYDON,
                *events("first_monitoring_visit=2018-02-06", "monitoring_visit_3=2018-02-05"),
            ],
            "--event monitoring_visit_3: '2018-02-05' is before first_monitoring_visit",
        ),
        (
            [*DIRECTED, "--event", "dfe_review_1=2018-03-05", "--event", "dfe_review_2=2018-03-04"],
            "--event dfe_review_2: '2018-03-04' is before dfe_review_1 (2018-03-05)",
        ),
        (
            [*CROYDON, "--event", "publish_report=2017-09-01"],
            "--event publish_report: '2017-09-01' is before the report (2017-09-04)",
        ),
        (
            [*CROYDON, "--direction", "2017-09-01"],
            "--direction: '2017-09-01' is before the report (2017-09-04)",
        ),
        (  # before the receipt, the report's day when there is one
            [*CROYDON, "--received", "2017-08-31", "--direction", "2017-08-30"],
            "--direction: '2017-08-30' is before the report (2017-08-31)",
        ),
        (
            [*CROYDON, "--received", "2016-09-03"],
            "--received: '2016-09-03' is more than a year before publication (2017-09-04)",
        ),
    ],
    ids=[
        "visit-2-before-1",
        "visit-3-before-2",
        "visit-3-before-1",
        "review-2-before-1",
        "event-before-report",
        "direction-before-publication",
        "direction-before-receipt",
        "receipt-a-year-early",
    ],
)
def test_impossible_facts_are_refused_with_one_line(capsys, args, line):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert len(err) == 1
    assert err[0].startswith(f"statclock clock: error: {line}")


def test_in_order_visits_and_a_receipt_a_year_early_at_most_are_accepted(capsys):
    code, _, err = run(
        capsys,
        *CROYDON,
        "--received",
        "2016-09-04",  # exactly a year: odd (a warning), not impossible
        "--event",
        "first_monitoring_visit=2018-02-06",
        "--event",
        "monitoring_visit_2=2018-02-06",  # the same day is not "before"
        "--event",
        "monitoring_visit_3=2018-08-01",
    )
    assert code == 0
    assert [line for line in err if "error" in line] == []


SATURDAY = "published: 2017-09-02 is a Saturday: Ofsted publishes reports on working days"
BANK_HOLIDAY = "published: 2017-08-28 is a Monday and a bank holiday"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--published", "2017-09-02"], [SATURDAY]),
        (["--published", "2017-08-28"], [BANK_HOLIDAY]),
        (
            ["--published", "2017-09-04", "--received", "2017-09-19"],
            ["received: 2017-09-19 is 11 working days after publication (2017-09-04)"],
        ),
        (
            ["--published", "2017-09-04", "--received", "2017-07-20"],
            ["received: 2017-07-20 is 31 working days before publication (2017-09-04)"],
        ),
    ],
    ids=["saturday", "bank-holiday", "receipt-late", "receipt-early"],
)
def test_unusual_facts_warn_on_stderr_and_in_the_json(capsys, args, expected):
    argv = ["clock", "--framework", "sif", "--judgement", "inadequate", *args]
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert len(document["warnings"]) == len(expected)
    for warning, start in zip(document["warnings"], expected, strict=True):
        assert warning.startswith(start)
    assert err == [f"statclock clock: warning: {w}" for w in document["warnings"]]
    # the table prints them too, on stderr only
    code, out, err = run(capsys, *argv)
    assert code == 0 and "warning" not in out
    assert err == [f"statclock clock: warning: {w}" for w in document["warnings"]]


@pytest.mark.parametrize("received", ["2017-09-18", "2017-07-21", "2017-09-04", "2017-08-31"])
def test_receipt_within_the_usual_span_gives_no_warning(capsys, received):
    # 10 working days after, 30 before, the same day, the usual few days before
    code, out, err = run(capsys, *CROYDON, "--received", received, "--format", "json")
    assert code == 0 and err == []
    assert json.loads(out)["warnings"] == []


def test_the_json_always_has_warnings(capsys):
    code, out, _ = run(capsys, *CROYDON, "--format", "json")
    assert code == 0
    assert json.loads(out)["warnings"] == []


def test_dates_beyond_the_last_known_bank_holidays_warn(capsys):
    last = WorkingDayCalendar().last_known_year
    assert last is not None and last >= 2026
    published = date(last + 1, 3, 2)
    while published.weekday() >= 5:
        published += timedelta(days=1)
    code, out, err = run(
        capsys,
        "clock",
        "--framework",
        "ilacs",
        "--published",
        published.isoformat(),
        "--judgement",
        "good",
        "--format",
        "json",
    )
    assert code == 0
    (warning,) = json.loads(out)["warnings"]
    assert warning.startswith(
        f"published: {published.isoformat()} is after {last}, the last year of known bank holidays"
    )
    assert err == [f"statclock clock: warning: {warning}"]


def test_the_last_known_year_follows_the_holiday_lists():
    snapshot = bundled_snapshot()
    assert WorkingDayCalendar().last_known_year == max(snapshot.years)
    refreshed = HolidayList("feed", frozenset({date(2040, 12, 25)}))
    calendar = WorkingDayCalendar(refreshed=refreshed)
    assert calendar.last_known_year == 2040
    facts = CaseFacts("ilacs", date(2038, 3, 2), events={"publish_report": date(2041, 1, 2)})
    found = warnings(facts, calendar)
    assert len(found) == 1 and found[0].startswith("event publish_report: 2041-01-02 is after 2040")


def test_a_month_only_publication_has_no_weekday_warning():
    facts = CaseFacts("sif", date(2014, 8, 31))  # "August 2014", taken as its last day
    assert warnings(facts, WorkingDayCalendar())[0].startswith("published: 2014-08-31 is a Sunday")
    assert warnings(facts, WorkingDayCalendar(), month_only={"published"}) == ()


def test_the_engine_refuses_through_facts_error_for_every_caller():
    facts = CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements={"overall": "inadequate"},
        events={"first_monitoring_visit": date(2018, 2, 6), "monitoring_visit_2": date(2018, 2, 1)},
    )
    # the register computes with strict_events=False: the refusal stands there too
    with pytest.raises(FactsError) as caught:
        ClockBuilder().compute(facts, strict_events=False)
    assert caught.value.field == "event monitoring_visit_2"
    assert caught.value.value == "2018-02-01"


def test_warnings_are_on_the_clock():
    clock = compute_clock(CaseFacts("sif", date(2017, 9, 2), judgements={"overall": "good"}))
    assert clock.warnings and clock.warnings[0].startswith(SATURDAY)
    assert compute_clock(CaseFacts("sif", date(2017, 9, 4))).warnings == ()


# -- properties ------------------------------------------------------------------------------

_BUILDER = ClockBuilder()
_PUBLISHED = date(2017, 9, 4)


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(min_value=0, max_value=200), min_size=2, max_size=6))
def test_visits_in_their_numbered_order_are_accepted_and_any_swap_refused(gaps):
    days = []
    day = _PUBLISHED + timedelta(days=1)
    for gap in gaps:
        day += timedelta(days=gap)
        days.append(day)
    ids = ["first_monitoring_visit"] + [f"monitoring_visit_{n}" for n in range(2, len(days) + 1)]
    judged = {"overall": "inadequate"}
    facts = CaseFacts(
        "sif", _PUBLISHED, judgements=judged, events=dict(zip(ids, days, strict=True))
    )
    _BUILDER.compute(facts, strict_events=False)  # in order: accepted
    for i in range(len(days) - 1):
        if days[i] == days[i + 1]:
            continue
        swapped = list(days)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        events = dict(zip(ids, swapped, strict=True))
        with pytest.raises(FactsError) as caught:
            _BUILDER.compute(CaseFacts("sif", _PUBLISHED, judgements=judged, events=events))
        assert caught.value.field == f"event {ids[i + 1]}"


@settings(max_examples=80, deadline=None)
@given(offset=st.integers(min_value=-400, max_value=60))
def test_receipt_warnings_follow_the_working_day_spans(offset):
    calendar = _BUILDER.calendar
    received = _PUBLISHED + timedelta(days=offset)
    facts = CaseFacts("sif", _PUBLISHED, received=received)
    if received < _PUBLISHED.replace(year=_PUBLISHED.year - 1):
        with pytest.raises(FactsError):
            _BUILDER.compute(facts)
        return
    found = [w for w in _BUILDER.compute(facts).warnings if w.startswith("received:")]
    late = calendar.working_days_between(_PUBLISHED, received)
    early = calendar.working_days_between(received, _PUBLISHED)
    assert bool(found) == (late > 10 or early > 30)
