"""Typed interventions and per-area judgements in the case register, on SQLite and PostgreSQL
(issue 13, items 4 and 5): case files carry ``intervention.interventions``, the register keeps
them (migration 0005), clocks follow them, and export -> import -> export is byte-identical."""

from __future__ import annotations

from datetime import date

import pytest

from statutory_clock.store import db, register
from statutory_clock.store.casefile import CaseFileError, dump_case_file, parse_case_text
from statutory_clock.store.registration import case_document
from tests.integration.test_round_trip import (
    audit_rows,
    case_state,
    export_text,
    last_audit_id,
    replace,
)

AS_OF = date(2026, 12, 1)
CASE = """\
schema_version: 1
key: testshire-2026
local_authority:
  name: Testshire County Council
  dfe_code: "998"
inspection:
  framework: ilacs
  published: 2026-05-01
  judgements:
    help_and_protection: inadequate
    children_in_care: requires_improvement
    care_leavers: requires_improvement
    leadership: inadequate
intervention:
  adviser: A. Adviser
  interventions:
    - kind: improvement_notice
      date: 2026-06-10
      independent_chair: true
      note: Improvement notice with an independent chair of the board
"""


def _ids(engine, key: str = "testshire-2026") -> dict[str, tuple[date, str]]:
    with db.transaction(engine) as session:
        case = register.get_case(session, key)
        return {m.milestone_id: (m.due, m.rule) for m in case.milestones}


def _import(engine, text: str = CASE) -> None:
    with db.transaction(engine) as session:
        register.import_case(session, parse_case_text(text, "testshire.yaml"), "importer", AS_OF)


def test_interventions_in_a_case_file_reach_the_clock_and_round_trip(register_engine):
    _import(register_engine)
    ids = _ids(register_engine)
    assert ids["dfe_review_1"] == (date(2026, 12, 10), "dfe_intervention.improvement_notice_review")
    assert ids["board_chair_report_1"][0] == date(2026, 9, 10)
    assert "commissioner_report" not in ids
    assert "first_monitoring_visit" in ids  # any area inadequate, from April 2026

    first = export_text(register_engine, "testshire-2026")
    assert "interventions:" in first and "kind: improvement_notice" in first
    assert "commissioner: false" in first and "independent_chair: true" in first
    state, mark = case_state(register_engine, "testshire-2026"), last_audit_id(register_engine)
    replace(register_engine, first, AS_OF)
    assert export_text(register_engine, "testshire-2026") == first
    assert audit_rows(register_engine, mark, "testshire-2026") == []
    assert case_state(register_engine, "testshire-2026") == state


def test_a_direction_added_in_the_file_replaces_the_notice_and_is_audited(register_engine):
    _import(register_engine)
    mark = last_audit_id(register_engine)
    edited = CASE + (
        "    - kind: direction\n"
        "      date: 2027-01-15\n"
        "      commissioner: true\n"
        "      independent_chair: false\n"
        "      note: null\n"
    )
    replace(register_engine, edited, AS_OF)
    ids = _ids(register_engine)
    assert ids["commissioner_report"][0] == date(2027, 4, 15)
    assert ids["dfe_review_1"] == (date(2027, 7, 15), "dfe_intervention.dfe_review")
    assert "board_chair_report_1" not in ids
    rows = audit_rows(register_engine, mark, "testshire-2026")
    changed = [r for r in rows if r[0] == "intervention changed"]
    assert changed and all(r[2] == "interventions" for r in changed)
    assert any("2027-01-15" in str(r[4]) for r in changed)
    # And back out again: the notice is in force once more.
    replace(register_engine, CASE, AS_OF)
    assert "commissioner_report" not in _ids(register_engine)


def test_a_bare_direction_keeps_its_meaning_in_the_register(register_engine):
    text = CASE.replace(
        "intervention:\n  adviser: A. Adviser\n", "intervention:\n  direction: 2026-06-10\n"
    ).split("  interventions:")[0]
    _import(register_engine, text)
    ids = _ids(register_engine)
    assert {"commissioner_report", "board_chair_report_1", "dfe_review_1"} <= set(ids)
    exported = export_text(register_engine, "testshire-2026")
    assert "interventions:" not in exported  # older files keep their bytes


def test_an_overall_grade_for_an_ilacs_report_from_april_2026_is_refused():
    text = CASE.replace("    help_and_protection: inadequate\n", "    overall: inadequate\n")
    with pytest.raises(CaseFileError) as caught:
        parse_case_text(text, "testshire.yaml")
    message = str(caught.value)
    assert "inspection.judgements.overall" in message and "1 April 2026" in message
    assert "help_and_protection" in message and "\n" not in message


def test_an_unknown_intervention_kind_is_refused():
    with pytest.raises(CaseFileError, match="interventions"):
        parse_case_text(CASE.replace("kind: improvement_notice", "kind: notice"), "t.yaml")


FORM = {
    "local_authority": "Testshire County Council",
    "dfe_code": "998",
    "framework": "ilacs",
    "published": "2026-05-01",
    "area_help_and_protection": "inadequate",
    "area_leadership": "requires_improvement",
    "judgements": {},
    "recommendations": [],
}


def test_the_registration_form_takes_areas_and_interventions():
    from statutory_clock.store.casefile import parse_case_data

    doc = parse_case_data(
        case_document(
            {
                **FORM,
                "direction": "2026-07-01",
                "direction_commissioner": False,
                "direction_independent_chair": True,
                "improvement_notice": "2026-06-01",
            }
        ),
        "form",
    )
    assert dict(doc.inspection.judgements) == {
        "help_and_protection": "inadequate",
        "leadership": "requires_improvement",
    }
    assert doc.intervention is not None and doc.intervention.direction is None
    assert [
        (i.kind, i.on, i.commissioner, i.independent_chair) for i in doc.intervention.interventions
    ] == [
        ("improvement_notice", date(2026, 6, 1), False, False),
        ("direction", date(2026, 7, 1), False, True),
    ]
    # The defaults: a direction appoints a commissioner and names a chair, as --direction does.
    plain = parse_case_data(case_document({**FORM, "direction": "2026-07-01"}), "form")
    assert plain.intervention is not None and plain.intervention.direction == date(2026, 7, 1)
    assert plain.intervention.interventions == ()
    with pytest.raises(CaseFileError, match="direction_commissioner"):
        case_document({**FORM, "direction": "2026-07-01", "direction_commissioner": "no"})
    with pytest.raises(CaseFileError, match="overall"):
        parse_case_data(case_document({**FORM, "overall_judgement": "good"}), "form")
    assert dump_case_file(plain).count("interventions") == 0


def test_the_board_pack_names_the_intervention_and_what_it_appoints(register_engine):
    from datetime import UTC, datetime

    from statutory_clock.board_pack.assemble import PackJob, build_snapshot

    _import(register_engine)
    job = PackJob("testshire-2026", date(2026, 11, 1), date(2026, 11, 30), "November 2026", None)
    with db.transaction(register_engine) as session:
        snapshot = build_snapshot(session, job, AS_OF, 1, datetime.now(UTC))
    assert snapshot.intervention is not None
    assert "DfE improvement notice of 10 June 2026 (names an independent chair)" in (
        snapshot.intervention.status_text
    )
    assert "Statutory direction" not in snapshot.intervention.status_text
