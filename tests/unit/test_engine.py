"""Engine behaviour beyond the golden cases: actual dates, recurrences, triggers, statuses."""

from datetime import date

import pytest

from statutory_clock import CaseFacts, FactsError, compute_clock, milestone_status

CROYDON = CaseFacts("sif", date(2017, 9, 4), judgements={"overall": "inadequate"})


def test_receipt_is_the_anchor_when_recorded():
    facts = CaseFacts(
        "sif", date(2017, 9, 4), received=date(2017, 8, 30), judgements={"overall": "inadequate"}
    )
    clock = compute_clock(facts)
    assert (clock.anchor_date, clock.anchor_kind) == (date(2017, 8, 30), "receipt")
    assert clock.by_id()["written_statement_of_action"].basis.endswith("2017-08-30 (receipt)")


def test_every_milestone_has_rule_source_and_basis():
    facts = CaseFacts(
        "sif", date(2017, 9, 4), judgements={"overall": "inadequate"}, direction=date(2017, 9, 4)
    )
    for m in compute_clock(facts).milestones:
        assert m.rule and m.source and m.basis and m.confidence
        assert m.window_start is None or m.window_start <= m.due


def test_actual_visit_moves_the_next_forecast():
    forecast = compute_clock(CROYDON).by_id()
    # Issue 13: the old forecast, Sunday 8 April 2018, was a visit on a weekend.
    assert forecast["monitoring_visit_2"].due == date(2018, 4, 9)
    assert forecast["monitoring_visit_2"].basis == (
        "3 calendar months after 2018-01-08 (first_monitoring_visit, forecast)"
        " = Sunday 8 April 2018, a non-working day, so Monday 9 April 2018 (rolled forward)"
    )
    assert forecast["monitoring_audits_due_2"].due == date(2018, 4, 4)  # Wednesday before
    held = CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements={"overall": "inadequate"},
        events={"first_monitoring_visit": date(2018, 2, 6)},
    )
    moved = compute_clock(held).by_id()
    assert moved["first_monitoring_visit"].actual == date(2018, 2, 6)
    assert moved["first_monitoring_visit"].due == date(2018, 1, 8)  # the target stays put
    # Sunday 6 May 2018, then the early May bank holiday: Tuesday 8 May (issue 13).
    assert moved["monitoring_visit_2"].due == date(2018, 5, 8)
    assert moved["monitoring_visit_2"].basis == (
        "3 calendar months after 2018-02-06 (first_monitoring_visit, actual)"
        " = Sunday 6 May 2018, a non-working day, so Tuesday 8 May 2018 (rolled forward)"
    )
    assert moved["monitoring_audits_due_1"].due == date(2018, 2, 1)  # 3 working days before


def test_plan_submitted_moves_reinspection_but_not_first_visit():
    submitted = CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements={"overall": "inadequate"},
        events={"written_statement_of_action": date(2017, 11, 30)},
    )
    clock = compute_clock(submitted).by_id()
    # First visit: "within four weeks of the submission *deadline*" (handbook para 24).
    assert clock["first_monitoring_visit"].due == date(2018, 1, 8)
    # Re-inspection: "within two years of it submitting its action plan" (paras 50-52). Two
    # years is Saturday 30 November 2019; issue 13: no Ofsted forecast on a non-working day,
    # and "within" rolls back to Friday 29 November (rule roll: backward).
    assert clock["reinspection"].due == date(2019, 11, 29)
    assert clock["reinspection"].basis.endswith(
        "= Saturday 30 November 2019, a non-working day, so Friday 29 November 2019"
        " (rolled backward)"
    )


def test_monitoring_visits_stop_at_the_reinspection():
    clock = compute_clock(CROYDON)
    reinspection = clock.by_id()["reinspection"].due
    visits = [m for m in clock.milestones if m.rule == "sif.monitoring_visit"]
    assert len(visits) == 7  # visits 2-8 after the first, quarterly for two years
    assert all(v.due <= reinspection for v in visits)
    assert [v.id for v in visits] == [f"monitoring_visit_{n}" for n in range(2, 9)]


def test_requires_improvement_has_no_monitoring():
    facts = CaseFacts("sif", date(2017, 9, 4), judgements={"overall": "requires_improvement"})
    ids = set(compute_clock(facts).by_id())
    assert {"publish_report", "written_statement_of_action"} <= ids
    assert not any("monitoring" in i for i in ids) and "action_planning_visit" not in ids


def test_ilacs_from_april_2026_any_key_judgement_triggers_monitoring():
    # No overall judgement after April 2026: inadequate leadership alone starts monitoring.
    facts = CaseFacts(
        "ilacs",
        date(2026, 6, 1),
        judgements={"leadership": "inadequate", "help_and_protection": "good"},
    )
    assert "first_monitoring_visit" in compute_clock(facts).by_id()
    before = CaseFacts(
        "ilacs",
        date(2025, 6, 2),
        judgements={"overall": "requires_improvement", "leadership": "inadequate"},
    )
    ids = compute_clock(before).by_id()
    assert "first_monitoring_visit" not in ids and "ilacs_next_inspection" in ids


def test_ilacs_next_inspection_window():
    facts = CaseFacts("ilacs", date(2019, 3, 15), judgements={"overall": "good"})
    nxt = compute_clock(facts).by_id()["ilacs_next_inspection"]
    assert (nxt.window_start, nxt.due) == (date(2021, 9, 15), date(2022, 9, 15))


def test_direction_adds_intervention_recurrences():
    facts = CaseFacts(
        "ilacs", date(2019, 3, 15), judgements={"overall": "inadequate"}, direction=date(2019, 4, 1)
    )
    ids = compute_clock(facts).by_id()
    assert ids["commissioner_report"].due == date(2019, 7, 1)
    assert [ids[f"dfe_review_{n}"].due for n in (1, 2, 3, 4)] == [
        date(2019, 10, 1),
        date(2020, 4, 1),
        date(2020, 10, 1),
        date(2021, 4, 1),
    ]
    assert "dfe_review_5" not in ids  # shown for two years from the direction


def test_focused_visit_plans():
    ids = compute_clock(CaseFacts("focused_visit", date(2019, 1, 10))).by_id()
    assert ids["focused_visit_draft_plan"].due == date(2019, 2, 7)
    # Counted by hand: 15 in Jan (from the 11th), 20 in Feb, 21 in Mar, 14 from 1 to 18 Apr,
    # which is the day before Good Friday 2019.
    assert ids["focused_visit_action_plan"].due == date(2019, 4, 18)


def test_month_end_clamping():
    facts = CaseFacts(
        "sif", date(2016, 8, 31), judgements={"overall": "inadequate"}, direction=date(2016, 8, 31)
    )
    ids = compute_clock(facts).by_id()
    assert ids["commissioner_report"].due == date(2016, 11, 30)
    assert ids["dfe_review_1"].due == date(2017, 2, 28)


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        (CaseFacts("nonsense", date(2017, 1, 2)), "framework"),
        (CaseFacts("sif", date(2011, 1, 4)), "published"),
        (
            CaseFacts("sif", date(2017, 1, 4), judgements={"overall": "adequate"}),
            "judgement overall",
        ),
        (
            CaseFacts("sif", date(2017, 1, 4), events={"publish_report": date(2016, 1, 1)}),
            "event publish_report",
        ),
        (CaseFacts("sif", date(2017, 1, 4), events={"no_such": date(2017, 3, 1)}), "event no_such"),
    ],
)
def test_bad_facts_name_the_field(facts, field):
    with pytest.raises(FactsError) as caught:
        compute_clock(facts)
    assert caught.value.field == field


def test_statuses():
    clock = compute_clock(CROYDON).by_id()
    wsoa = clock["written_statement_of_action"]  # due Mon 11 Dec 2017
    assert milestone_status(wsoa, date(2017, 11, 1)) == "upcoming"
    assert milestone_status(wsoa, date(2017, 12, 4)) == "due"  # five working days before
    assert milestone_status(wsoa, date(2017, 12, 11)) == "due"
    assert milestone_status(wsoa, date(2017, 12, 12)) == "overdue"
    assert milestone_status(wsoa, date(2017, 12, 12), waived=True) == "waived"
    apv = clock["action_planning_visit"]  # window 29 Sep - 9 Oct 2017 (calendar days)
    assert milestone_status(apv, date(2017, 10, 9)) == "due"
    held = compute_clock(
        CaseFacts(
            "sif",
            date(2017, 9, 4),
            judgements={"overall": "inadequate"},
            events={"written_statement_of_action": date(2017, 12, 12)},
        )
    )
    assert (
        milestone_status(held.by_id()["written_statement_of_action"], date(2018, 1, 1)) == "missed"
    )


def test_deterministic():
    assert compute_clock(CROYDON) == compute_clock(CROYDON)
