"""Monitoring after an inadequate judgement, against published dates (issue 13, items 1 and 6).

Each case is named after the council and the document that gave the date; the evidence is in
docs/statutory-rules.md ("ILACS monitoring from evidence", "The action planning visit's unit").
An observed date is a span when the source gives no exact day ("February 2025" is the whole
month, Trafford's "late February / early March 2020" its last and first fortnights): every day
of the span must lie inside the engine's window for the milestone, so the case holds whatever
the day was.

A recurring visit has no window in the engine yet (only a point forecast, about every four
months); its window is the rulebook's stated 3 to 5 months after the previous visit, written
here as a month either side of the forecast until the engine can give a recurrence a window.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import pytest

from statutory_clock import CaseFacts, compute_clock
from statutory_clock.engine import add_months

TRAFFORD = date(2019, 5, 8)  # ILACS report published (DfE improvement notice, 23 May 2019)
CHESHIRE_EAST = date(2024, 5, 16)  # ILACS report published (council and local press, 16 May 2024)
BROMLEY = date(2016, 6, 27)  # SIF report published (seed 000)


class Case(NamedTuple):
    framework: str
    published: date
    recorded: dict[str, date]  # actual dates recorded before the forecast (none: a fresh clock)
    milestone: str
    observed: tuple[date, date]  # first and last day the source allows
    recurring: bool  # a point forecast: window = a month either side (see the module docstring)


def _month(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    return first, add_months(first, 1) - timedelta(days=1)


CASES = [
    pytest.param(
        Case(
            "ilacs",
            TRAFFORD,
            {},
            "first_monitoring_visit",
            (date(2019, 10, 15), date(2019, 10, 17)),
            False,
        ),
        id="trafford-2019-messenger-oct-2019-first-monitoring-visit",
    ),
    pytest.param(
        Case(
            "ilacs",
            TRAFFORD,
            {"first_monitoring_visit": date(2019, 10, 15)},
            "monitoring_visit_2",
            (date(2020, 2, 17), date(2020, 3, 6)),  # "late February / early March 2020"
            True,
        ),
        id="trafford-2019-next-visit-expected-late-feb-early-mar-2020",
    ),
    pytest.param(
        Case("ilacs", CHESHIRE_EAST, {}, "first_monitoring_visit", _month(2025, 2), False),
        id="cheshire-east-2024-council-release-jul-2025-first-visit-feb-2025",
    ),
    *(
        pytest.param(
            Case(
                "ilacs",
                CHESHIRE_EAST,
                {"first_monitoring_visit": date(2025, 2, day)},
                "monitoring_visit_2",
                _month(2025, 6),
                True,
            ),
            id=f"cheshire-east-2024-council-release-jul-2025-second-visit-jun-2025-after-feb-{day}",
        )
        for day in (3, 14, 28)  # the letters give the month only: early, mid and late February
    ),
    *(
        pytest.param(
            Case(
                "ilacs",
                CHESHIRE_EAST,
                {
                    "first_monitoring_visit": date(2025, 2, 14),
                    "monitoring_visit_2": date(2025, 6, day),
                },
                "monitoring_visit_3",
                _month(2025, 10),
                True,
            ),
            id=f"cheshire-east-2024-minutes-nov-2025-third-visit-oct-2025-after-jun-{day}",
        )
        for day in (2, 16, 30)
    ),
    pytest.param(
        Case(
            "sif",
            BROMLEY,
            {},
            "action_planning_visit",
            (date(2016, 7, 26), date(2016, 7, 26)),
            False,
        ),
        id="bromley-2016-seed-000-action-planning-meeting-26-jul-2016",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_observed_dates_fall_inside_the_forecast_window(case: Case) -> None:
    facts = CaseFacts(
        case.framework, case.published, judgements={"overall": "inadequate"}, events=case.recorded
    )
    milestone = compute_clock(facts).by_id()[case.milestone]
    if case.recurring:
        assert milestone.window_start is None  # the engine gives a point forecast
        opens, closes = add_months(milestone.due, -1), add_months(milestone.due, 1)
    else:
        assert milestone.window_start is not None
        opens, closes = milestone.window_start, milestone.due
    first, last = case.observed
    assert opens <= first and last <= closes, (
        f"{case.milestone}: observed {first} to {last}, forecast window {opens} to {closes} "
        f"({milestone.basis})"
    )
    assert milestone.basis and milestone.source


@pytest.mark.parametrize(
    ("published", "visits"),
    [
        pytest.param(TRAFFORD, 7, id="trafford-2019"),
        pytest.param(CHESHIRE_EAST, 7, id="cheshire-east-2024"),
    ],
)
def test_ilacs_forecasts_about_half_the_visits_of_the_sif_copy(published: date, visits: int):
    """The SIF copy forecast twelve quarterly visits before the re-inspection window closed;
    four-monthly visits from a later first visit give seven (issue 13: about twice as many as
    observed). The first and the last come before the re-inspection's latest date."""
    clock = compute_clock(CaseFacts("ilacs", published, judgements={"overall": "inadequate"}))
    found = [m for m in clock.milestones if m.rule == "ilacs.monitoring_visit"]
    assert [m.id for m in found] == [f"monitoring_visit_{n}" for n in range(2, visits + 1)]
    reinspection = clock.by_id()["reinspection"]
    assert all(m.due <= reinspection.due for m in found)


def test_sif_monitoring_is_still_the_2016_handbook():
    """SIF keeps the handbook: first visit four weeks after the plan deadline, then quarterly."""
    clock = compute_clock(CaseFacts("sif", BROMLEY, judgements={"overall": "inadequate"})).by_id()
    assert clock["first_monitoring_visit"].due == date(2016, 11, 1)
    assert clock["first_monitoring_visit"].window_start is None
    assert clock["monitoring_visit_2"].due == date(2017, 2, 1)


@pytest.mark.parametrize(
    ("framework", "published", "confidence"),
    [
        pytest.param("sif", BROMLEY, "low", id="sif-bromley-2016"),
        pytest.param("ilacs", TRAFFORD, "unverified", id="ilacs-trafford-2019"),
        pytest.param("ilacs", date(2026, 5, 14), "unverified", id="ilacs-from-april-2026"),
    ],
)
def test_action_planning_visit_counts_calendar_days(framework, published, confidence):
    """ "Between 25 and 35 days": calendar days (docs/statutory-rules.md), the basis says so."""
    judgements = (
        {"overall": "inadequate"} if published < date(2026, 4, 1) else {"leadership": "inadequate"}
    )
    visit = compute_clock(CaseFacts(framework, published, judgements=judgements)).by_id()[
        "action_planning_visit"
    ]
    assert visit.window_start is not None
    assert visit.basis.startswith("between 25 and 35 calendar days after ")
    assert visit.confidence == confidence
