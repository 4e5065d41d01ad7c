"""A fact confirmed by a person in Airflow's human-in-the-loop step reaches the register."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from statutory_clock.store import db, register
from statutory_clock.store.casefile import load_case_file
from statutory_clock.store.confirmation import record_confirmation
from statutory_clock.store.models import AuditEvent

CROYDON = Path(__file__).resolve().parents[2] / "include" / "demo" / "croydon-2017.yaml"
PARAMS = {
    "case_key": "croydon-2017",
    "milestone": "written_statement_of_action",
    "proposed_date": "2017-12-08",
}


@pytest.fixture
def croydon(register_engine):
    with db.transaction(register_engine) as session:
        register.import_case(session, load_case_file(CROYDON), "tester", date(2017, 12, 1))
    return register_engine


def test_confirmation_records_the_corrected_date_with_the_person(croydon):
    answer = {
        "chosen_options": ["Confirm"],
        "params_input": {"actual_date": "2017-12-07", "note": "Signed off by Cabinet"},
        "responded_by_user": {"id": "7", "name": "Programme Manager"},
    }
    summary = record_confirmation(croydon, answer, PARAMS, date(2017, 12, 11))
    assert "Thursday 7 December 2017" in summary and "Programme Manager" in summary
    with db.transaction(croydon) as session:
        case = register.get_case(session, "croydon-2017")
        wsoa = {m.milestone_id: m for m in case.milestones}["written_statement_of_action"]
        assert (wsoa.actual, wsoa.status) == (date(2017, 12, 7), "met")
        who = session.execute(
            select(AuditEvent.actor).where(AuditEvent.action == "event recorded")
        ).scalar_one()
    assert who == "Programme Manager"


def test_rejection_records_nothing(croydon):
    answer = {"chosen_options": ["Reject"], "params_input": {}, "responded_by_user": "someone"}
    assert "nothing recorded" in record_confirmation(croydon, answer, PARAMS, date(2017, 12, 11))
    with db.transaction(croydon) as session:
        case = register.get_case(session, "croydon-2017")
        assert all(e.kind != "actual" for e in case.events)


def test_a_bad_date_in_the_answer_is_refused(croydon):
    answer = {"chosen_options": ["Confirm"], "params_input": {"actual_date": "07/12/2017"}}
    with pytest.raises(register.RegisterError, match="actual_date"):
        record_confirmation(croydon, answer, PARAMS, date(2017, 12, 11))


@pytest.mark.parametrize(
    ("field", "params_input", "user"),
    [
        ("note", {"note": "Signed off\r\nBcc: someone@example.com"}, "Programme Manager"),
        ("note", {"note": "x" * 10_001}, "Programme Manager"),
        ("note", {"note": "Signed off \u202eevil"}, "Programme Manager"),
        ("responded_by_user", {}, "Programme\nManager"),
        ("responded_by_user", {}, "P" * 201),
    ],
)
def test_a_hostile_answer_is_refused_and_nothing_is_recorded(croydon, field, params_input, user):
    answer = {
        "chosen_options": ["Confirm"],
        "params_input": params_input,
        "responded_by_user": {"id": "7", "name": user},
    }
    with db.transaction(croydon) as session:
        before = session.execute(select(AuditEvent.id)).scalars().all()
    with pytest.raises(register.RegisterError, match=f"^{field}: "):
        record_confirmation(croydon, answer, PARAMS, date(2017, 12, 11))
    with db.transaction(croydon) as session:
        assert session.execute(select(AuditEvent.id)).scalars().all() == before
        case = register.get_case(session, "croydon-2017")
        assert all(e.kind != "actual" for e in case.events)
