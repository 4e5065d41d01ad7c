"""Every DAG file parses on its own, touches no database or network while parsing, and follows
the project's conventions: one parametrised policy test per file, the file name as test id."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))
EXPECTED_TASKS = {
    "statutory_clock": {"recompute_clocks"},
    "reminders": {"decide_reminders", "send_reminders", "post_notices"},
    "reminders_watchdog": {"wait_for_reminders", "alert_programme_manager"},
    "register_inspection": {"register_case"},
    "confirm_milestone": {"ask_for_confirmation", "record_confirmed_fact"},
    "bank_holidays": {"fetch_feed", "record_changes", "recompute_affected"},
    "board_pack": {"plan_packs", "make_pack", "send_packs"},
}
MANUAL = {"register_inspection", "confirm_milestone"}

# Parses each file given on the command line with a DagBag of its own, in a fresh interpreter
# (Airflow imported first, as the DAG processor has it), and reports per file what parsing did:
# queries to Airflow's metadata database, SQLAlchemy engines created (a register connection),
# and network connections or name look-ups attempted (each refused). The project's packages are
# dropped from sys.modules between files, so each file bears its own imports.
PARSE = r"""
import json, socket, sys
import sqlalchemy
from sqlalchemy import event
from airflow import settings
from airflow.dag_processing.dagbag import DagBag

seen = {"queries": [], "engines": [], "network": []}
if settings.engine is not None:
    event.listen(settings.engine, "before_cursor_execute",
                 lambda *args, **kwargs: seen["queries"].append(str(args[2])[:80]))
real_create_engine = sqlalchemy.create_engine
def counting_create_engine(*args, **kwargs):
    seen["engines"].append(str(args[0]) if args else "engine")
    return real_create_engine(*args, **kwargs)
sqlalchemy.create_engine = counting_create_engine
def refuse(what):
    def refused(*args, **kwargs):
        seen["network"].append(f"{what} {args[1:] if what == 'connect' else args[:2]}")
        raise OSError(f"no network while parsing DAGs ({what})")
    return refused
socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect")
socket.getaddrinfo = refuse("getaddrinfo")
socket.create_connection = refuse("create_connection")

report = {}
for path in sys.argv[1:]:
    ours = ("statutory_clock", "statclock_airflow")
    for name in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[name]
    for found in seen.values():
        found.clear()
    bag = DagBag(dag_folder=path)
    errors = {k: str(v)[-400:] for k, v in bag.import_errors.items()}
    report[path] = {"dag_ids": sorted(bag.dags), "errors": errors,
                    **{k: list(v) for k, v in seen.items()}}
print("REPORT " + json.dumps(report))
"""


def parse_alone(paths: list[Path]) -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-c", PARSE, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPORT "))
    report: dict[str, dict[str, Any]] = json.loads(line.removeprefix("REPORT "))
    return report


def dag_functions(path: Path) -> list[str]:
    """Names of the functions the file decorates with ``@dag`` or ``@dag(...)``."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "dag":
                    names.append(node.name)
    return names


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def parsed_alone() -> dict[str, dict[str, Any]]:
    return parse_alone(DAG_FILES)


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_exactly_the_expected_dag_files() -> None:
    assert {path.stem for path in DAG_FILES} == set(EXPECTED_TASKS)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[path.name for path in DAG_FILES])
def test_dag_file_policy(
    dag_file: Path, dagbag: DagBag, parsed_alone: dict[str, dict[str, Any]]
) -> None:
    name = dag_file.stem
    alone = parsed_alone[str(dag_file)]
    # Parsing touches nothing outside the process: no database, no network.
    assert alone["errors"] == {}
    assert alone["queries"] == [], "no query to Airflow's database at parse time"
    assert alone["engines"] == [], "no register connection at parse time"
    assert alone["network"] == [], "no network at parse time"
    # One DAG per file: dag_id = file name = decorated function name.
    assert alone["dag_ids"] == [name]
    assert dag_functions(dag_file) == [name]
    dag = dagbag.dags[name]
    assert Path(dag.fileloc).name == dag_file.name
    assert set(dag.task_ids) == EXPECTED_TASKS[name]
    assert "statclock" in dag.tags
    assert dag.doc_md and len(dag.doc_md.strip()) > 80, "the UI shows the module docstring"
    assert not dag.catchup
    assert dag.timezone.name == "Europe/London"
    for task in dag.tasks:
        assert task.owner == "improvement-programme"
        if name in MANUAL or task.task_id == "wait_for_reminders":
            assert task.retries == 0, "a refused registration or answer needs a person"
        else:
            assert task.retries >= 1, "scheduled work must survive a transient failure"


def test_the_parse_check_sees_a_database_and_the_network(tmp_path: Path) -> None:
    # The policy test above can fail: a DAG file that connects while parsing is reported.
    bad = tmp_path / "bad_dag.py"
    bad.write_text(
        "import socket\n"
        "import sqlalchemy\n"
        "from airflow import settings\n"
        "from airflow.sdk import dag\n"
        "sqlalchemy.create_engine('sqlite://')\n"
        "with settings.engine.connect() as connection:\n"
        "    connection.exec_driver_sql('select 1')\n"
        "try:\n"
        "    socket.create_connection(('example.org', 80), timeout=1)\n"
        "except OSError:\n"
        "    pass\n"
        "@dag(schedule=None)\n"
        "def bad_dag():\n"
        "    pass\n"
        "bad_dag()\n",
        encoding="utf-8",
    )
    report = parse_alone([bad])[str(bad)]
    assert report["queries"] == ["select 1"]
    assert report["engines"] == ["sqlite://"]
    assert report["network"] and report["network"][0].startswith("create_connection")
    assert report["dag_ids"] == ["bad_dag"]


def test_scheduled_dags_run_on_working_days(dagbag: DagBag) -> None:
    for dag_id in ("reminders", "reminders_watchdog"):
        assert "Working days at" in dagbag.dags[dag_id].timetable.summary
    clock = dagbag.dags["statutory_clock"].timetable
    assert clock.summary.startswith("When a case changes, or working days at 07:00")


def test_reminders_run_before_the_watchdog_looks(dagbag: DagBag) -> None:
    assert "07:30" in dagbag.dags["reminders"].timetable.summary
    assert "09:00" in dagbag.dags["reminders_watchdog"].timetable.summary
