"""Issue 13, items 2 and 3: no Ofsted or DfE forecast on a non-working day, ``act_by`` for every
milestone, and cycles that do not drift (the kth date is the anchor plus k periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock import CaseFacts, ClockBuilder, compute_clock
from statutory_clock.calendar import default_calendar
from statutory_clock.engine import add_months
from statutory_clock.reminders import Reminder, ReminderItem, compose, decide, load_policy
from statutory_clock.rules import RulebookError, load_rulebooks, parse_rulebook

CAL = default_calendar()
BOOKS = load_rulebooks()
NOW = datetime(2024, 11, 22, 7, 30, tzinfo=UTC)
INTERVENTION = {r.id: r for r in BOOKS["dfe_intervention"].rules}


def _direction_case(direction: date, **events: date) -> CaseFacts:
    return CaseFacts(
        "ilacs",
        date(2023, 10, 2),
        judgements={"overall": "inadequate"},
        direction=direction,
        events=events,
    )


# -- golden: a direction on 30 November 2023 -------------------------------------------------


def test_30_november_2023_direction_board_chair_reports_do_not_drift():
    # Issue 13: each report was the previous clamped forecast + 3 months (29 Feb, 29 May,
    # 29 Aug) while the six-month review was 30 May: two dates for the same point.
    by_id = compute_clock(_direction_case(date(2023, 11, 30))).by_id()
    reports = [by_id[f"board_chair_report_{n}"].due for n in (1, 2, 3)]
    assert reports == [date(2024, 2, 29), date(2024, 5, 30), date(2024, 8, 30)]
    # Six months after the direction is one point of both cycles: one date.
    assert by_id["dfe_review_1"].due == by_id["board_chair_report_2"].due == date(2024, 5, 30)
    basis = "6 calendar months after 2023-11-30 (DfE direction)"
    assert by_id["board_chair_report_2"].basis == basis
    assert by_id["commissioner_report"].due == date(2024, 2, 29)


def test_30_november_2024_the_council_acts_by_friday_and_the_review_is_monday():
    by_id = compute_clock(_direction_case(date(2023, 11, 30))).by_id()
    # Twelve months: Saturday 30 November 2024. The council's report keeps its due date and is
    # to be sent by the Friday; the DfE's review is forecast on the Monday.
    report = by_id["board_chair_report_4"]
    assert (report.due, report.act_by) == (date(2024, 11, 30), date(2024, 11, 29))
    assert report.contract_dict()["act_by"] == "2024-11-29"
    review = by_id["dfe_review_2"]
    assert (review.due, review.act_by) == (date(2024, 12, 2), date(2024, 12, 2))
    assert review.basis == (
        "12 calendar months after 2023-11-30 (DfE direction) = Saturday 30 November 2024, "
        "a non-working day, so Monday 2 December 2024 (rolled forward)"
    )
    # The rolled review does not feed the next: 24 months is Sunday 30 November 2025 -> Monday.
    assert by_id["dfe_review_4"].due == date(2025, 12, 1)
    assert by_id["dfe_review_4"].basis.startswith("24 calendar months after 2023-11-30")


def test_an_actual_date_restarts_the_cycle():
    by_id = compute_clock(
        _direction_case(date(2023, 11, 30), board_chair_report_2=date(2024, 6, 3))
    ).by_id()
    assert by_id["board_chair_report_2"].actual == date(2024, 6, 3)
    assert by_id["board_chair_report_3"].due == date(2024, 9, 3)
    assert by_id["board_chair_report_4"].due == date(2024, 12, 3)
    assert by_id["board_chair_report_4"].basis == (
        "6 calendar months after 2024-06-03 (board_chair_report_2, actual)"
    )


def test_commissioner_report_rolls_back_inside_its_three_months():
    # "Within three months": a forecast may not pass the day it is due by.
    report = compute_clock(_direction_case(date(2024, 6, 29))).by_id()["commissioner_report"]
    assert report.due == date(2024, 9, 27)  # Sunday 29 September 2024 -> Friday 27
    assert report.basis.endswith("so Friday 27 September 2024 (rolled backward)")


def test_an_actual_visit_is_not_rolled():
    # Recorded on a Saturday (odd, but a fact): kept as it is, and the next visit counts from it.
    facts = CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements={"overall": "inadequate"},
        events={"first_monitoring_visit": date(2018, 2, 10)},
    )
    by_id = compute_clock(facts).by_id()
    assert by_id["first_monitoring_visit"].actual == date(2018, 2, 10)
    assert by_id["monitoring_visit_2"].due == date(2018, 5, 10)  # a Thursday
    assert by_id["monitoring_visit_3"].due == date(2018, 8, 10)  # 6 months after the actual


# -- the rule field ---------------------------------------------------------------------------


def _book(rules: list[dict[str, object]], framework: str = "focused_visit") -> dict[str, object]:
    return {
        "framework": framework,
        "title": "test",
        "label": "test",
        "valid_from": "2018-01-01",
        "rules": rules,
    }


def _rule(**overrides: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "id": "visit",
        "party": "ofsted",
        "title": "A visit",
        "kind": "regulatory",
        "anchor": "report",
        "offset": 10,
        "unit": "working_days",
        "counting": "anchor_excluded",
        "applies_to": {"judgements": "any"},
        "source": "test",
        "confidence": "unverified",
        "valid_from": "2018-01-01",
    }
    rule.update(overrides)
    return rule


def test_default_roll_by_party_and_the_rule_may_say_otherwise():
    book = parse_rulebook(
        _book(
            [
                _rule(id="a"),
                _rule(id="b", party="dfe", roll="backward"),
                _rule(id="c", party="council"),
            ]
        ),
        "test.yaml",
    )
    assert [r.roll for r in book.rules] == ["forward", "backward", None]
    assert INTERVENTION["commissioner_report"].roll == "backward"
    assert INTERVENTION["dfe_review"].roll == "forward"
    assert INTERVENTION["board_chair_report"].roll is None


def test_a_council_deadline_may_not_roll():
    with pytest.raises(RulebookError, match="rule c, field roll: a council deadline"):
        parse_rulebook(_book([_rule(id="c", party="council", roll="forward")]), "test.yaml")
    with pytest.raises(RulebookError, match="field roll"):
        parse_rulebook(_book([_rule(roll="sideways")]), "test.yaml")


def _builder_with(rules: list[dict[str, object]]) -> ClockBuilder:
    books = dict(BOOKS)
    books["focused_visit"] = parse_rulebook(_book(rules), "test.yaml")
    return ClockBuilder(rulebooks=books)


@settings(max_examples=100, deadline=None)
@given(
    published=st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31)),
    every=st.integers(min_value=1, max_value=30),
    unit=st.sampled_from(["working_days", "calendar_days", "weeks"]),
    party=st.sampled_from(["ofsted", "council"]),
)
def test_working_and_calendar_day_cycles_are_anchor_plus_k_periods(published, every, unit, party):
    counting = "anchor_excluded" if unit == "working_days" else "calendar"
    builder = _builder_with(
        [
            _rule(
                party=party,
                offset=every,
                unit=unit,
                counting=counting,
                recurrence={
                    "every": every,
                    "unit": unit,
                    "id_format": "visit_{n}",
                    "first_number": 1,
                    "horizon_months": 24,
                },
            )
        ]
    )
    clock = builder.compute(CaseFacts("focused_visit", published))
    visits = [m for m in clock.milestones if m.id.startswith("visit_")]
    assert visits
    for k, visit in enumerate(visits, start=1):
        if unit == "working_days":
            expected = CAL.add_working_days(published, k * every)
        else:
            expected = published + (7 if unit == "weeks" else 1) * k * every * (date.resolution)
        if party == "ofsted":
            expected = CAL.working_day_on_or_after(expected)
        assert visit.due == expected, visit.basis


# -- properties -------------------------------------------------------------------------------

_SIF = st.dates(min_value=date(2013, 11, 1), max_value=date(2018, 12, 31))
_ILACS = st.dates(min_value=date(2018, 1, 1), max_value=date(2031, 12, 31))
_GRADES = st.sampled_from(["outstanding", "good", "requires_improvement", "inadequate"])


@st.composite
def inspections(draw: st.DrawFn) -> CaseFacts:
    framework = draw(st.sampled_from(["sif", "ilacs", "focused_visit"]))
    published = draw(_SIF if framework == "sif" else _ILACS)
    judgements: dict[str, str] = {}
    if framework != "focused_visit":
        grade = draw(_GRADES)
        # From April 2026 ILACS gives no overall grade: monitoring follows any area inadequate.
        area = "help_and_protection" if published >= date(2026, 4, 1) else "overall"
        judgements = {area: grade}
    direction = None
    if draw(st.booleans()):
        direction = published + draw(st.integers(min_value=0, max_value=400)) * date.resolution
    return CaseFacts(framework, published, judgements=judgements, direction=direction)


@settings(max_examples=300, deadline=None)
@given(facts=inspections())
def test_no_ofsted_or_dfe_forecast_on_a_non_working_day(facts):
    for m in compute_clock(facts).milestones:
        if m.party in ("ofsted", "dfe"):
            assert CAL.is_working_day(m.due), (m.id, m.due, m.basis)
            assert m.window_start is None or CAL.is_working_day(m.window_start), m.basis
            assert m.window_start is None or m.window_start <= m.due


@settings(max_examples=300, deadline=None)
@given(facts=inspections())
def test_act_by_is_the_last_working_day_on_or_before_due(facts):
    for m in compute_clock(facts).milestones:
        assert m.act_by is not None and CAL.is_working_day(m.act_by)
        assert m.act_by <= m.due
        assert CAL.working_days_between(m.act_by, m.due) == 0  # none after it, up to the due day
        if CAL.is_working_day(m.due):
            assert m.act_by == m.due
        assert m.contract_dict()["act_by"] == m.act_by.isoformat()


@settings(max_examples=300, deadline=None)
@given(
    direction=st.dates(min_value=date(2018, 1, 1), max_value=date(2031, 12, 31)),
)
def test_kth_cycle_date_is_anchor_plus_k_periods(direction):
    facts = CaseFacts("ilacs", direction, judgements={"overall": "good"}, direction=direction)
    if direction >= date(2026, 4, 1):
        facts = CaseFacts(
            "ilacs", direction, judgements={"help_and_protection": "good"}, direction=direction
        )
    by_id = compute_clock(facts).by_id()
    for rule_id in ("board_chair_report", "dfe_review"):
        rule = INTERVENTION[rule_id]
        assert rule.recurrence is not None and rule.recurrence.unit == rule.unit == "months"
        numbers = [n for n in range(1, 40) if f"{rule_id}_{n}" in by_id]
        assert numbers
        for k, n in enumerate(numbers):
            exact = add_months(direction, rule.offset + k * rule.recurrence.every)
            if rule.roll == "forward":
                exact = CAL.working_day_on_or_after(exact)
            elif rule.roll == "backward":
                exact = CAL.working_day_on_or_before(exact)
            assert by_id[f"{rule_id}_{n}"].due == exact, by_id[f"{rule_id}_{n}"].basis


@settings(max_examples=200, deadline=None)
@given(published=_SIF)
def test_sif_monitoring_visits_are_first_visit_plus_k_quarters(published):
    by_id = compute_clock(CaseFacts("sif", published, judgements={"overall": "inadequate"})).by_id()
    plan_deadline = by_id["written_statement_of_action"].due
    first = plan_deadline + 28 * date.resolution  # before rolling: what the cadence counts from
    assert by_id["first_monitoring_visit"].due == CAL.working_day_on_or_after(first)
    for n in range(2, 40):
        visit = by_id.get(f"monitoring_visit_{n}")
        if visit is None:
            break
        assert visit.due == CAL.working_day_on_or_after(add_months(first, 3 * (n - 1)))


# -- reminders count to act_by ----------------------------------------------------------------


def _report_item(**changes: object) -> ReminderItem:
    values: dict[str, object] = {
        "item": "milestone:board_chair_report_4",
        "case_key": "example-2023",
        "authority": "Example Council",
        "title": "Independent improvement board chair reports to the DfE (4)",
        "due": date(2024, 11, 30),  # a Saturday
        "due_version": 1,
        "needed": "The chair's report",
        "basis": "12 calendar months after 2023-11-30 (DfE direction)",
        "source": "Direction naming an independent chair",
        "rule": "dfe_intervention.board_chair_report",
        "confidence": "high",
        "owner": None,
        "owner_email": None,
        "escalation_email": None,
        "done": False,
        "act_by": date(2024, 11, 29),
    }
    values.update(changes)
    return ReminderItem(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("as_of", "kind"),
    [
        (date(2024, 11, 14), None),
        (date(2024, 11, 15), "before_10"),  # ten working days before Friday 29 November
        (date(2024, 11, 22), "before_5"),
        (date(2024, 11, 28), "before_1"),
        (date(2024, 11, 29), "due_today"),  # the Friday: never lost under Monday's overdue_1
        (date(2024, 12, 2), "overdue_1"),
    ],
)
def test_reminders_count_back_from_the_day_to_act_by(as_of, kind):
    times = load_policy().for_rule("dfe_intervention.board_chair_report")
    sent = decide(_report_item(), as_of, times, CAL, set(), "pm@council.example")
    assert [r.kind for r in sent] == ([kind] if kind else [])


def test_without_act_by_the_due_date_is_counted_to():
    item = _report_item(act_by=None)
    times = load_policy().for_rule("dfe_intervention.board_chair_report")
    # Counted back from the Saturday, the Friday is only "before_1" (the old behaviour).
    assert [r.kind for r in decide(item, date(2024, 11, 29), times, CAL, set(), "pm@x")] == [
        "before_1"
    ]


def test_a_reminder_says_the_day_to_act_by():
    reminder = Reminder(_report_item(), "before_5", ("pm@council.example",), 5)
    message = compose(reminder, "pm@council.example", "statclock@council.example", NOW)
    body = message.get_body(("plain",)).get_content()
    assert "Act by Friday 29 November 2024: Saturday 30 November 2024 is not a working day." in body
    plain = Reminder(
        _report_item(act_by=date(2024, 11, 30)), "before_5", ("pm@council.example",), 5
    )
    message = compose(plain, "pm@council.example", "statclock@council.example", NOW)
    assert "Act by" not in message.get_body(("plain",)).get_content()
