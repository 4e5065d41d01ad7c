"""register_inspection run by Airflow (``dag.test()``): what a refusal and a registration leave in
the task log and in the run's note.

A refusal is a user's error: the log shows one plain line naming the field and the value, and
no traceback; the run's note (written by plugins/statclock_run_notes.py when the run ends) shows
the same line and names the council. A registration's note names the case and the council.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from statutory_clock.store import db, register
from statutory_clock.store.models import AuditEvent, Inspection
from tests.dags.airflow_runner import run_dag_test

# Exactly what Airflow's trigger form sends when nothing but the required fields are typed:
# every field of the form, untouched ones as their defaults (null, or the booleans' defaults).
EMPTY_FORM = {
    "local_authority": None,
    "dfe_code": None,
    "programme_manager_email": None,
    "case_key": None,
    "framework": "ilacs",
    "published": None,
    "received": None,
    "overall_judgement": None,
    "area_help_and_protection": None,
    "area_children_in_care": None,
    "area_care_leavers": None,
    "area_leadership": None,
    "recommendations": None,
    "direction": None,
    "direction_commissioner": True,
    "direction_independent_chair": True,
    "improvement_notice": None,
    "improvement_notice_independent_chair": False,
}
CROYDON = {
    **EMPTY_FORM,
    "local_authority": "London Borough of Croydon",
    "dfe_code": "306",
    "published": "2026-05-11",
    "area_help_and_protection": "inadequate",
    "area_children_in_care": "requires_improvement",
    "area_care_leavers": "good",
    "area_leadership": "inadequate",
    "recommendations": ["Within three months | Review every child in need plan", ""],
    "programme_manager_email": "pm@croydon.example",
}


def _note(tmp_path: Path, run_id: str) -> str | None:
    """The run's note as Airflow's metadata database holds it (what the UI shows)."""
    (database,) = tmp_path.glob("airflow-*/airflow.db")
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT n.content FROM dag_run_note n JOIN dag_run r ON r.id = n.dag_run_id "
            "WHERE r.dag_id = 'register_inspection' AND r.run_id = ?",
            (run_id,),
        ).fetchone()
    return None if row is None else row[0]


def _refused(register_url: str, tmp_path: Path, conf: dict[str, object]) -> tuple[str, str]:
    run = run_dag_test(
        "register_inspection",
        {"STATCLOCK_DATABASE_URL": register_url},
        conf=conf,
        home=tmp_path,
        retries=None,  # the DAG's own: a refusal is not retried
    )
    assert run.state == "failed", run.tail()
    assert run.tasks == {"register_case": "failed"}
    return run.stdout + run.stderr, _note(tmp_path, run.run_id) or ""


def _nothing_written(register_url: str) -> None:
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        assert session.execute(select(func.count()).select_from(Inspection)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0
    engine.dispose()


def test_a_registration_from_the_form_writes_the_case_and_names_the_council(
    sqlite_register_url, tmp_path
):
    run = run_dag_test(
        "register_inspection",
        {"STATCLOCK_DATABASE_URL": sqlite_register_url},
        conf=CROYDON,
        home=tmp_path,
    )
    assert run.state == "success", run.tail()
    assert run.xcom["register_case"] == "croydon-2026"
    engine = db.make_engine(sqlite_register_url)
    with db.transaction(engine) as session:
        case = register.get_case(session, "croydon-2026")
        assert case.judgements == {
            "help_and_protection": "inadequate",
            "children_in_care": "requires_improvement",
            "care_leavers": "good",
            "leadership": "inadequate",
        }
        assert [r.text for r in case.recommendations] == ["Review every child in need plan"]
        assert case.intervention is None or not case.intervention
    engine.dispose()
    note = _note(tmp_path, run.run_id)
    assert note is not None and note.startswith(
        "Registered croydon-2026: London Borough of Croydon, "
    ), note


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (  # a real date (the form's schema refuses one that is not), out of range
            {"published": "1900-01-01"},
            "Not registered: published: '1900-01-01' is outside the dates statclock accepts "
            "(1990-01-01 to 2100-12-31)",
        ),
        (
            {"framework": "sif"},
            "Not registered: published: 2026-05-11 is outside the sif framework's period",
        ),
        (
            {"local_authority": None},
            "Not registered: local_authority: is missing: type the council's name, "
            "e.g. London Borough of Croydon",
        ),
        (  # the form's field takes the ILACS scale only; the REST API's mapping any grade
            {"judgements": {"leadership": "adequate"}, "area_leadership": None},
            "Not registered: area_leadership: 'adequate' is not on the ilacs scale",
        ),
        (
            {"overall_judgement": "inadequate"},
            "Not registered: overall_judgement: 'inadequate' is not given for ILACS reports "
            "published from 1 April 2026 (overall effectiveness is not judged): give the key "
            "judgements instead, each in its own field below it",
        ),
    ],
    ids=[
        "date-out-of-range",
        "outside-the-framework",
        "missing-name",
        "grade-off-the-scale",
        "no-overall-judgement-since-april-2026",
    ],
)
def test_a_refusal_is_one_plain_line_in_the_log_and_the_note(
    sqlite_register_url, tmp_path, change, line
):
    output, note = _refused(sqlite_register_url, tmp_path, {**CROYDON, **change})
    refusals = [text for text in output.splitlines() if "Not registered" in text]
    assert refusals and line in refusals[0], output[-3000:]
    # One line, said once, and no traceback anywhere in what the task logged.
    assert len(refusals) == 1, refusals
    assert "Traceback" not in output and 'File "' not in output, output[-3000:]
    assert "Task exited" in output
    assert note.startswith(line), note
    if change.get("local_authority", "") is not None:
        assert note.endswith("\n\nCouncil: London Borough of Croydon"), note
    _nothing_written(sqlite_register_url)


def test_an_empty_form_passes_airflow_and_is_refused_by_the_task(sqlite_register_url, tmp_path):
    output, note = _refused(sqlite_register_url, tmp_path, EMPTY_FORM)
    assert "Not registered: local_authority: is missing" in output
    assert "Invalid input for param" not in output
    assert note.startswith("Not registered: local_authority: is missing"), note
    _nothing_written(sqlite_register_url)


def test_a_duplicate_offers_what_the_form_can_do_and_changes_nothing(sqlite_register_url, tmp_path):
    (tmp_path / "first").mkdir()
    first = run_dag_test(
        "register_inspection",
        {"STATCLOCK_DATABASE_URL": sqlite_register_url},
        conf=CROYDON,
        home=tmp_path / "first",
    )
    assert first.state == "success", first.tail()
    engine = db.make_engine(sqlite_register_url)
    with db.transaction(engine) as session:
        audit_rows = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    output, note = _refused(sqlite_register_url, tmp_path, {**CROYDON, "dfe_code": "307"})
    line = (
        "Not registered: case_key: 'croydon-2026' is already in the register, so nothing was "
        "changed. If this is another inspection of the council, give it a case key of its own "
        "(e.g. croydon-2026-2)"
    )
    assert line in output and "--replace" not in output, output[-3000:]
    assert "Traceback" not in output
    assert note.startswith(line), note
    with db.transaction(engine) as session:
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == (
            audit_rows
        )
        assert register.get_case(session, "croydon-2026").local_authority.dfe_code == "306"
    engine.dispose()


def test_the_api_may_still_send_other_judgements(sqlite_register_url, tmp_path):
    conf = {
        **CROYDON,
        "area_leadership": None,
        "judgements": {"leadership": "good"},
        "recommendations": ["Strengthen management oversight"],
    }
    run = run_dag_test(
        "register_inspection",
        {"STATCLOCK_DATABASE_URL": sqlite_register_url},
        conf=conf,
        home=tmp_path,
    )
    assert run.state == "success", run.tail()
    engine = db.make_engine(sqlite_register_url)
    with db.transaction(engine) as session:
        assert register.get_case(session, "croydon-2026").judgements["leadership"] == "good"
    engine.dispose()
