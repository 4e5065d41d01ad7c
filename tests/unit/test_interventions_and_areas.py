"""Issue 13, items 4 and 5: typed DfE interventions, and per-area judgements from April 2026.

Golden-style: the dates below are computed by hand from the rule (anchor + k x period) and the
published dates of the notices cited; the DfE's actual review dates are not published.
"""

import json
from datetime import date

import pytest

from statutory_clock.engine import CaseFacts, FactsError, InterventionFact, compute_clock
from statutory_clock.rules import load_rulebooks
from tests.unit.test_cli import run

INTERVENTION_IDS = ("commissioner_report", "board_chair_report", "dfe_review")


def _intervention_milestones(facts: CaseFacts) -> dict[str, tuple[date, str, str]]:
    return {
        m.id: (m.due, m.rule, m.basis)
        for m in compute_clock(facts).milestones
        if m.id.startswith(INTERVENTION_IDS)
    }


# Lancashire: SIF inadequate, report of 27 November 2015; the DfE improvement notice was
# published on 19 May 2016 (CYP Now, 20 May 2016): "reviews of progress ... at least every six
# months". No commissioner, and the notice itself names no independent chair.
LANCASHIRE = CaseFacts(
    "sif",
    date(2015, 11, 27),
    judgements={"overall": "inadequate"},
    interventions=(InterventionFact("improvement_notice", date(2016, 5, 19)),),
)


def test_improvement_notice_gives_six_monthly_dfe_reviews_only():
    got = _intervention_milestones(LANCASHIRE)
    assert {k: v[0] for k, v in got.items()} == {
        "dfe_review_1": date(2016, 11, 21),  # Saturday 19th, rolled forward
        "dfe_review_2": date(2017, 5, 19),
        "dfe_review_3": date(2017, 11, 20),  # Sunday 19th, rolled forward
        "dfe_review_4": date(2018, 5, 21),  # Saturday 19th, rolled forward
    }
    assert got["dfe_review_1"][1] == "dfe_intervention.improvement_notice_review"
    assert got["dfe_review_1"][2] == (
        "6 calendar months after 2016-05-19 (DfE improvement notice) = Saturday 19 November "
        "2016, a non-working day, so Monday 21 November 2016 (rolled forward)"
    )
    review = compute_clock(LANCASHIRE).by_id()["dfe_review_1"]
    assert "at least every six months" in review.source and review.party == "dfe"


def test_improvement_notice_naming_an_independent_chair_adds_board_chair_reports():
    facts = CaseFacts(
        "sif",
        date(2015, 11, 27),
        judgements={"overall": "inadequate"},
        interventions=(InterventionFact("improvement_notice", date(2016, 5, 19), False, True),),
    )
    ids = _intervention_milestones(facts)
    assert ids["board_chair_report_1"][0] == date(2016, 8, 19)
    assert "commissioner_report" not in ids


# A direction without a commissioner (as BCP's of April 2022, to work with an improvement
# adviser): DfE reviews, no commissioner's report, no board-chair reports.
def test_direction_without_commissioner_or_chair():
    facts = CaseFacts(
        "ilacs",
        date(2022, 3, 1),
        judgements={"overall": "inadequate"},
        interventions=(InterventionFact("direction", date(2022, 4, 29)),),
    )
    got = _intervention_milestones(facts)
    assert sorted(got) == ["dfe_review_1", "dfe_review_2", "dfe_review_3", "dfe_review_4"]
    assert got["dfe_review_1"] == (
        date(2022, 10, 31),
        "dfe_intervention.dfe_review",
        "6 calendar months after 2022-04-29 (DfE direction) = Saturday 29 October 2022, "
        "a non-working day, so Monday 31 October 2022 (rolled forward)",
    )


def test_direction_with_chair_only_and_with_commissioner_only():
    chair = CaseFacts(
        "ilacs",
        date(2022, 3, 1),
        judgements={"overall": "inadequate"},
        interventions=(InterventionFact("direction", date(2022, 4, 29), False, True),),
    )
    ids = _intervention_milestones(chair)
    assert "board_chair_report_1" in ids and "commissioner_report" not in ids
    commissioner = CaseFacts(
        "ilacs",
        date(2022, 3, 1),
        judgements={"overall": "inadequate"},
        interventions=(InterventionFact("direction", date(2022, 4, 29), True, False),),
    )
    ids = _intervention_milestones(commissioner)
    assert "commissioner_report" in ids and "board_chair_report_1" not in ids


def test_bare_direction_keeps_its_meaning():
    # --direction / intervention.direction: a commissioner and an independent chair, as before.
    bare = CaseFacts(
        "sif", date(2017, 9, 4), judgements={"overall": "inadequate"}, direction=date(2017, 9, 4)
    )
    typed = CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements={"overall": "inadequate"},
        interventions=(InterventionFact("direction", date(2017, 9, 4), True, True),),
    )
    assert compute_clock(bare) == compute_clock(typed)
    assert _intervention_milestones(bare)["commissioner_report"][0] == date(2017, 12, 4)
    # A typed direction on the same day says what the bare date does not know.
    both = CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements={"overall": "inadequate"},
        direction=date(2017, 9, 4),
        interventions=(InterventionFact("direction", date(2017, 9, 4)),),
    )
    assert "commissioner_report" not in _intervention_milestones(both)


def test_a_later_direction_replaces_an_improvement_notice():
    # Cumbria: notice of 7 January 2014 "closed and replaced with a direction issued on
    # 9 November 2015" (gov.uk). The reviews restart from the direction.
    facts = CaseFacts(
        "slac2009",
        date(2013, 7, 1),
        judgements={"overall": "inadequate"},
        interventions=(
            InterventionFact("direction", date(2015, 11, 9)),
            InterventionFact("improvement_notice", date(2014, 1, 7)),
        ),
    )
    assert facts.intervention_in_force() == InterventionFact("direction", date(2015, 11, 9))
    got = _intervention_milestones(facts)
    assert got["dfe_review_1"][:2] == (date(2016, 5, 9), "dfe_intervention.dfe_review")


# -- per-area judgements -------------------------------------------------------------------


def test_ilacs_rulebook_lists_its_areas():
    areas = load_rulebooks()["ilacs"].areas
    assert list(areas) == [
        "overall",
        "help_and_protection",
        "children_in_care",
        "care_leavers",
        "leadership",
    ]
    assert not areas["overall"].in_force(date(2026, 4, 1))
    assert areas["overall"].in_force(date(2026, 3, 31))


def test_overall_grade_refused_for_ilacs_from_april_2026():
    facts = CaseFacts("ilacs", date(2026, 4, 1), judgements={"overall": "inadequate"})
    with pytest.raises(FactsError) as caught:
        compute_clock(facts)
    message = str(caught.value)
    assert "from 1 April 2026" in message
    for area in ("help_and_protection", "children_in_care", "care_leavers", "leadership"):
        assert area in message
    # The day before: still given.
    compute_clock(CaseFacts("ilacs", date(2026, 3, 31), judgements={"overall": "inadequate"}))


def test_unknown_ilacs_area_refused():
    with pytest.raises(FactsError, match="not an area the ILACS framework judges"):
        compute_clock(CaseFacts("ilacs", date(2026, 5, 1), judgements={"leaders": "good"}))


def test_next_inspection_after_april_2026_when_no_area_is_inadequate():
    good = CaseFacts(
        "ilacs",
        date(2026, 5, 1),
        judgements={"help_and_protection": "good", "leadership": "requires_improvement"},
    )
    nxt = compute_clock(good).by_id()["ilacs_next_inspection"]
    assert (nxt.window_start, nxt.due) == (date(2028, 11, 1), date(2029, 11, 1))
    assert nxt.confidence == "low" and "27 Nov 2025" in nxt.source
    one_inadequate = CaseFacts(
        "ilacs",
        date(2026, 5, 1),
        judgements={"help_and_protection": "good", "care_leavers": "inadequate"},
    )
    ids = compute_clock(one_inadequate).by_id()
    assert "ilacs_next_inspection" not in ids
    assert {"action_planning_visit", "first_monitoring_visit", "reinspection"} <= set(ids)
    # No judgement at all: no next-inspection window (nothing to base it on), as before.
    ungraded = compute_clock(CaseFacts("ilacs", date(2026, 5, 1))).by_id()
    assert "ilacs_next_inspection" not in ungraded


# -- the command line ----------------------------------------------------------------------


def _json(*args: str) -> dict[str, dict[str, str]]:
    result = run("clock", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return {m["id"]: m for m in json.loads(result.stdout)["milestones"]}


def test_cli_area_inadequate_starts_monitoring_from_april_2026():
    by_id = _json(
        "--framework",
        "ilacs",
        "--published",
        "2026-05-01",
        "--area",
        "help_and_protection=inadequate",
        "--area",
        "leadership=requires_improvement",
    )
    assert {"action_planning_visit", "first_monitoring_visit", "reinspection"} <= set(by_id)
    assert "ilacs_next_inspection" not in by_id


def test_cli_overall_grade_after_april_2026_is_one_line_exit_2():
    result = run(
        "clock", "--framework", "ilacs", "--published", "2026-05-01", "--judgement", "good"
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("statclock clock: error: --judgement: 'good' is not given")
    assert "--area AREA=GRADE" in result.stderr and "help_and_protection" in result.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--area", "leaders=good"], "--area leaders"),
        (["--area", "leadership=bad"], "--area leadership"),
        (["--area", "leadership"], "--area"),
        (["--intervention", "notice=2026-06-01"], "--intervention"),
        (["--intervention", "direction=2026-06-01,boss"], "--intervention"),
        (["--intervention", "direction=2026-02-30"], "--intervention"),
        (["--improvement-notice", "June"], "--improvement-notice"),
    ],
)
def test_cli_bad_area_or_intervention(args, names):
    result = run("clock", "--framework", "ilacs", "--published", "2026-05-01", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and names in result.stderr


def test_cli_improvement_notice_and_intervention_flags():
    base = ["--framework", "sif", "--published", "2015-11-27", "--judgement", "inadequate"]
    notice = _json(*base, "--improvement-notice", "2016-05-19")
    assert notice["dfe_review_1"]["due"] == "2016-11-21"  # Saturday 19th, rolled forward
    assert notice["dfe_review_1"]["rule"] == "dfe_intervention.improvement_notice_review"
    assert not any(i.startswith(("commissioner", "board_chair")) for i in notice)
    chair = _json(*base, "--intervention", "improvement_notice=2016-05-19,chair")
    assert chair["board_chair_report_1"]["due"] == "2016-08-19"
    direction = _json(*base, "--intervention", "direction=2016-05-19,commissioner")
    assert direction["commissioner_report"]["due"] == "2016-08-19"
    assert "board_chair_report_1" not in direction
    assert direction["dfe_review_1"]["rule"] == "dfe_intervention.dfe_review"
    # --direction keeps its meaning: commissioner and independent chair.
    bare = _json(*base, "--direction", "2016-05-19")
    assert {"commissioner_report", "board_chair_report_1", "dfe_review_1"} <= set(bare)
