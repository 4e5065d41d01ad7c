"""The fictional live portfolio: valid case files whose statuses on `today` are what each stage
promises, for any day it is loaded on (weekday, weekend, Christmas), with the bundled calendar
and with a register calendar that has an extra bank holiday."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from statutory_clock.calendar import WorkingDayCalendar, default_calendar
from statutory_clock.engine import ClockBuilder
from statutory_clock.live_demo import NOT_RECORDED, OVERDUE, facts_of, live_portfolio, statuses
from statutory_clock.store.casefile import parse_case_data

TODAYS = [
    pytest.param(date(2026, 11, 30), id="monday"),
    pytest.param(date(2026, 12, 5), id="saturday"),
    pytest.param(date(2026, 12, 24), id="christmas-eve"),
    pytest.param(date(2026, 12, 28), id="boxing-day-substitute"),
    pytest.param(date(2027, 1, 4), id="new-year"),
    pytest.param(date(2027, 8, 31), id="after-august-bank-holiday"),
]


def _by_stage(today: date, cal: WorkingDayCalendar | None = None) -> dict[str, dict[str, str]]:
    cal = cal or default_calendar()
    return {c.key.rsplit("-", 1)[0]: statuses(c, today, cal) for c in live_portfolio(today, cal)}


def _ids(found: dict[str, str], status: str) -> set[str]:
    return {mid for mid, s in found.items() if s == status}


@pytest.mark.parametrize("today", TODAYS)
def test_each_stage_is_what_it_promises(today):
    cal = default_calendar()
    cases = {c.key.rsplit("-", 1)[0]: c for c in live_portfolio(today, cal)}
    assert set(cases) == {"exampleshire", "northwick", "sampleton", "demoford"}
    found = {name: statuses(case, today, cal) for name, case in cases.items()}

    # (1) just published inadequate: the action planning window open, nothing overdue
    example = found["exampleshire"]
    assert example["action_planning_visit"] == "due"
    clock = ClockBuilder(cal).compute(facts_of(cases["exampleshire"].document.to_dict()))
    visit = clock.by_id()["action_planning_visit"]
    assert visit.window_start is not None and visit.window_start <= today <= visit.due
    assert _ids(example, "overdue") == set() and _ids(example, "not_recorded") == set()

    # (2) mid-monitoring: the first visit recorded, the audits for the next due within 5 days
    north = found["northwick"]
    assert north["first_monitoring_visit"] == "met"
    assert north["monitoring_audits_due_2"] == "due"
    audits = ClockBuilder(cal).compute(facts_of(cases["northwick"].document.to_dict())).by_id()
    assert 1 <= cal.working_days_between(today, audits["monitoring_audits_due_2"].due) <= 5
    assert len(_ids(north, "overdue")) == 1
    assert all(mid.startswith("recommendation_") for mid in _ids(north, "overdue"))

    # (3) requires improvement: the written statement of action due within days
    sample = found["sampleton"]
    assert sample["written_statement_of_action"] == "due"
    assert _ids(sample, "overdue") == {"recommendation_1"}

    # (4) a DfE direction: the commissioner has reported; a chair's report overdue; the DfE's
    # last review not recorded (a prompt), never the council's overdue item
    demo = found["demoford"]
    assert demo["commissioner_report"] == "met"
    assert {m.split("_")[0] for m in _ids(demo, "overdue")} == {"board"}
    assert len(_ids(demo, "overdue")) == 1
    assert {m.rsplit("_", 1)[0] for m in _ids(demo, "not_recorded")} == {"dfe_review"}

    # the whole portfolio: a handful of overdue items, all the council's
    totals = Counter(s for stage in found.values() for s in stage.values())
    assert totals["overdue"] == OVERDUE
    assert totals["not_recorded"] == NOT_RECORDED
    assert totals["missed"] == 0


def test_the_promises_hold_on_every_day_of_a_year():
    cal = default_calendar()
    start = date(2026, 6, 1)
    for offset in range(0, 366, 5):
        today = start + timedelta(days=offset)
        totals = Counter(s for stage in _by_stage(today, cal).values() for s in stage.values())
        assert (totals["overdue"], totals["not_recorded"], totals["missed"]) == (
            OVERDUE,
            NOT_RECORDED,
            0,
        ), today


def test_dates_are_counted_with_the_calendar_given():
    """An extra bank holiday in the register's calendar moves the live dates with it."""
    today = date(2026, 11, 30)
    extra = WorkingDayCalendar(added=[date(2026, 11, 20)])
    bundled = {c.key: c.document for c in live_portfolio(today)}
    moved = {c.key: c.document for c in live_portfolio(today, extra)}
    # Sampleton is published 66 working days ago (its statement of action due within days);
    # Exampleshire's action planning window counts calendar days since issue 13, so its
    # publication no longer moves with a bank holiday.
    key = "sampleton-2026"
    assert moved[key].inspection.published < bundled[key].inspection.published
    totals = Counter(s for stage in _by_stage(today, extra).values() for s in stage.values())
    assert totals["overdue"] == OVERDUE


@pytest.mark.parametrize("today", TODAYS)
def test_documents_are_valid_case_files_with_owners_and_reserved_addresses(today):
    for case in live_portfolio(today):
        doc = case.document
        # canonical already: parses to itself
        assert parse_case_data(doc.to_dict(), case.key) == doc
        assert doc.local_authority.dfe_code.startswith("9")
        emails = [c.email for c in doc.contacts]
        emails += list(doc.board.distribution) if doc.board else []
        assert emails and all(e is not None and e.endswith(".example") for e in emails)
        assert doc.inspection.milestone_owners["written_statement_of_action"]
        roles = {c.role for c in doc.contacts}
        assert "Director of Children's Services" in roles
        for event in doc.inspection.events:
            assert isinstance(event.on, date) and event.on <= today and event.note


def test_board_meetings_make_a_pack_due_and_one_council_has_none():
    today = date(2026, 11, 30)
    cal = default_calendar()
    meetings = {
        c.key.rsplit("-", 1)[0]: [
            m for m in c.document.board.meetings if isinstance(m, date) and m >= today
        ]
        for c in live_portfolio(today, cal)
    }
    assert meetings["sampleton"] == []  # its pack is the monthly one
    soon = min(meetings["exampleshire"])
    assert cal.working_days_between(today, soon) <= 5  # its pack is due now


def test_names_are_fictional_and_keys_are_stable_within_a_year():
    first = live_portfolio(date(2026, 11, 30))
    later = live_portfolio(date(2026, 12, 2))
    assert [c.key for c in first] == [c.key for c in later]
    names = {c.document.local_authority.name for c in first}
    assert names == {
        "Exampleshire County Council",
        "Northwick Borough Council",
        "Sampleton City Council",
        "Demoford Metropolitan Borough Council",
    }


def test_no_live_portfolio_before_the_framework_has_history():
    assert live_portfolio(date(2017, 10, 2)) == []


@pytest.mark.parametrize("today", TODAYS)
def test_every_open_council_item_has_a_named_owner_with_an_address(today):
    cal = default_calendar()
    for case in live_portfolio(today, cal):
        doc = case.document
        owners = doc.inspection.milestone_owners
        emails = {c.name: c.email for c in doc.contacts}
        clock = ClockBuilder(cal).compute(facts_of(doc.to_dict()))
        for m in clock.milestones:
            if m.party != "council" or m.actual is not None:
                continue
            owner = owners.get(m.id) or owners.get(m.rule.split(".", 1)[-1])
            assert owner and emails.get(owner), (case.key, m.id)
