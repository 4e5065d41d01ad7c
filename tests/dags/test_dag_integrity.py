"""Every DAG file parses, follows the project's conventions and has the expected tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED_TASKS = {
    "statutory_clock": {"recompute_clocks"},
    "reminders": {"decide_reminders", "send_reminders"},
    "reminders_watchdog": {"wait_for_reminders", "alert_programme_manager"},
    "register_inspection": {"register_case"},
    "confirm_milestone": {"ask_for_confirmation", "record_confirmed_fact"},
    "bank_holidays": {"fetch_feed", "record_changes", "recompute_affected"},
    "board_pack": {"plan_packs", "make_pack", "send_packs"},
}
MANUAL = {"register_inspection", "confirm_milestone"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_exactly_the_expected_dags(dagbag):
    assert set(dagbag.dags) == set(EXPECTED_TASKS)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_conventions(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert Path(dag.fileloc).stem == dag_id, "dag_id = file name"
    assert set(dag.task_ids) == EXPECTED_TASKS[dag_id]
    assert "statclock" in dag.tags
    assert dag.doc_md and len(dag.doc_md.strip()) > 80, "the UI shows the module docstring"
    assert not dag.catchup
    for task in dag.tasks:
        assert task.owner == "improvement-programme"
        if dag_id in MANUAL or task.task_id == "wait_for_reminders":
            assert task.retries == 0, "a refused registration or answer needs a person"
        else:
            assert task.retries >= 1, "scheduled work must survive a transient failure"
    # A DAG with a cycle would not have been loaded; topological order covers every task.
    assert len(dag.topological_sort()) == len(dag.tasks)
    assert dag.timezone.name == "Europe/London"


def test_scheduled_dags_run_on_working_days(dagbag):
    for dag_id in ("reminders", "reminders_watchdog"):
        assert "Working days at" in dagbag.dags[dag_id].timetable.summary
    clock = dagbag.dags["statutory_clock"].timetable
    assert "statclock_register_cases" in clock.description or "asset" in clock.description.lower()


def test_reminders_run_before_the_watchdog_looks(dagbag):
    assert "07:30" in dagbag.dags["reminders"].timetable.summary
    assert "09:00" in dagbag.dags["reminders_watchdog"].timetable.summary
