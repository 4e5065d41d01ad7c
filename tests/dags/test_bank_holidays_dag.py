"""The bank_holidays DAG: parsing, conventions, and real ``dag.test()`` runs.

The runs use a real local feed server (tests/integration/feed_server.py), a real register on
both databases (the ``register_url`` fixture) and Airflow's own ``dag.test()`` in a subprocess
with a fresh Airflow home (tests/dags/airflow_runner.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction
from sqlalchemy import select, text

from statclock_airflow import DEFAULT_ARGS, TAGS, cases_asset
from statutory_clock.holiday_feed import FeedError
from statutory_clock.store import db, register
from statutory_clock.store.casefile import load_case_file, parse_case_text
from statutory_clock.store.models import AuditEvent, CalendarChange
from tests.dags.airflow_runner import DAGS_FOLDER, run_dag_test
from tests.integration.feed_server import CASE_2027, FeedServer, feed_payload, feed_server

DAG_ID = "bank_holidays"
DAG_FILE = DAGS_FOLDER / f"{DAG_ID}.py"
URL_VARIABLE_ENV = "AIRFLOW_VAR_STATCLOCK_BANK_HOLIDAYS_URL"
DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
LONDON = pendulum.timezone("Europe/London")

RUN_DATE = "2027-05-24T05:00:00+00:00"  # Monday 24 May 2027, 06:00 in London


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def _load_register(url: str) -> None:
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as session:
            as_of = date(2027, 5, 24)
            for path in DEMO:
                register.import_case(session, load_case_file(path), "tester", as_of)
            register.import_case(session, parse_case_text(CASE_2027, "case"), "tester", as_of)
    finally:
        engine.dispose()


def _dump(url: str) -> dict[str, list[tuple]]:
    engine = db.make_engine(url)
    tables = ("calendar_change", "audit_event", "milestone", "inspection")
    try:
        with engine.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
                for t in tables
            }
    finally:
        engine.dispose()


# -- parsing and conventions ------------------------------------------------------------------


def test_the_dag_file_imports_cleanly(dag):
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    assert bag.dag_ids == [DAG_ID]
    assert Path(dag.fileloc).stem == DAG_ID == dag.dag_id


def test_dag_follows_the_project_conventions(dag):
    assert set(dag.tags) == {*TAGS, "calendar"}
    assert dag.default_args == DEFAULT_ARGS
    assert dag.owner == "improvement-programme"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and dag.doc_md.startswith("Refresh England and Wales bank holidays")
    assert dag.timetable.summary == "At 06:00, only on Monday (Europe/London)"
    for task in dag.tasks:
        assert task.retries == DEFAULT_ARGS["retries"]
        assert task.retry_exponential_backoff
        assert task.owner == DEFAULT_ARGS["owner"]


def test_tasks_and_their_order(dag):
    assert sorted(dag.task_ids) == ["fetch_feed", "recompute_affected", "record_changes"]
    assert dag.task_dict["fetch_feed"].downstream_task_ids == {"record_changes"}
    assert dag.task_dict["record_changes"].downstream_task_ids == {"recompute_affected"}
    assert dag.task_dict["recompute_affected"].outlets == [cases_asset()]
    assert all(not t.outlets for t in dag.tasks if t.task_id != "recompute_affected")


def test_runs_every_monday_at_six_london_time(dag):
    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(
        earliest=pendulum.datetime(2026, 3, 20, tz=LONDON), latest=None, catchup=True
    )
    runs, last = [], None
    for _ in range(3):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        assert info is not None
        runs.append(info.run_after)
        last = info.data_interval
    # Clocks go forward on Sunday 29 March 2026: 06:00 GMT, then 06:00 BST (05:00 UTC).
    assert [str(r.in_timezone("UTC")) for r in runs] == [
        "2026-03-23 06:00:00+00:00",
        "2026-03-30 05:00:00+00:00",
        "2026-04-06 05:00:00+00:00",
    ]


PARSE_CHECK = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("network access while parsing the DAG")
socket.socket.connect = refuse
socket.create_connection = refuse
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert bag.import_errors == {}, bag.import_errors
loaded = sorted(m for m in sys.modules if m.startswith("statutory_clock.store"))
print(json.dumps({"dags": bag.dag_ids, "loaded": loaded}))
"""


def test_parsing_touches_no_database_variable_or_network(tmp_path, server):
    register_file = tmp_path / "must-not-exist" / "register.db"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "STATCLOCK_DATABASE_URL": f"sqlite:///{register_file}",
        URL_VARIABLE_ENV: server.url("/bank-holidays.json"),
    }
    requests_before = len(server.requests)
    result = subprocess.run(
        [sys.executable, "-c", PARSE_CHECK, str(DAG_FILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["dags"] == [DAG_ID]
    # Neither the register (statutory_clock.store) nor the HTTP client of the feed is loaded.
    assert not [m for m in report["loaded"] if m.startswith("statutory_clock.store")]
    assert not register_file.parent.exists()
    assert len(server.requests) == requests_before


# -- the fetch task on its own (in process, real HTTP) -----------------------------------------


def test_fetch_task_retries_network_trouble_and_fails_at_once_on_a_bad_answer(
    dag, server, monkeypatch
):
    fetch = dag.task_dict["fetch_feed"].python_callable
    monkeypatch.setenv(URL_VARIABLE_ENV, server.url("/bank-holidays.json"))
    fetched = fetch()
    assert fetched == {"url": server.url("/bank-holidays.json"), "feed": feed_payload()}
    # HTTP 500: FeedError(transient) propagates, so the task's retries apply.
    monkeypatch.setenv(URL_VARIABLE_ENV, server.url("/error"))
    with pytest.raises(FeedError, match="HTTP 500") as raised:
        fetch()
    assert raised.value.transient
    # A wrong answer (HTML, malformed JSON): AirflowFailException, no retries.
    for path, problem in (("/page.html", "not JSON"), ("/broken.json", "2027-13-01")):
        monkeypatch.setenv(URL_VARIABLE_ENV, server.url(path))
        with pytest.raises(AirflowFailException, match=problem):
            fetch()


# -- real dag.test() runs -------------------------------------------------------------------


def test_dag_run_records_changes_then_a_broken_feed_changes_nothing(register_url, server, tmp_path):
    _load_register(register_url)
    copy = tmp_path / "var" / "bank-holidays.json"
    env = {
        "STATCLOCK_DATABASE_URL": register_url,
        "STATCLOCK_BANK_HOLIDAYS_COPY": str(copy),
        URL_VARIABLE_ENV: server.url("/bank-holidays.json"),
    }

    run = run_dag_test(DAG_ID, env=env, logical_date=RUN_DATE, home=tmp_path)
    assert run.state == "success", run.tail()
    assert run.tasks == {
        "fetch_feed": "success",
        "record_changes": "success",
        "recompute_affected": "success",
    }
    assert run.xcom["record_changes"] == {
        "changed": True,
        "added": [["2027-06-07", "Extra bank holiday"]],
        "removed": ["2027-08-30"],
        "kept": [],
    }
    recomputed = run.xcom["recompute_affected"]
    assert recomputed["as_of"] == "2027-05-24"
    assert ["testshire-2027", "publish_report", "2027-07-02", "2027-07-05"] in recomputed["moved"]
    assert [(e["name"], e["task_id"]) for e in run.asset_events] == [
        (cases_asset().name, "recompute_affected")
    ]
    assert json.loads(copy.read_text("utf-8")) == feed_payload()

    engine = db.make_engine(register_url)
    try:
        with db.transaction(engine) as session:
            calendar = register.calendar_for(session)
            changes = session.execute(select(CalendarChange.day, CalendarChange.change)).all()
            actors = set(
                session.execute(
                    select(AuditEvent.actor).where(
                        AuditEvent.action.in_(
                            ["bank holiday added", "bank holiday removed", "deadline moved"]
                        )
                    )
                ).scalars()
            )
            case = register.get_case(session, "testshire-2027")
            dues = {m.milestone_id: m.due for m in case.milestones}
    finally:
        engine.dispose()
    assert sorted(changes) == [(date(2027, 6, 7), "added"), (date(2027, 8, 30), "removed")]
    assert not calendar.is_working_day(date(2027, 6, 7))
    assert calendar.is_working_day(date(2027, 8, 30))
    assert actors == {"bank_holidays DAG"}
    assert dues["publish_report"] == date(2027, 7, 5)
    assert dues["written_statement_of_action"] == date(2027, 8, 30)

    # A malformed feed: only the fetch task fails (no retries: AirflowFailException), and the
    # register and the copy of the last good feed stay exactly as they were.
    before, copy_before = _dump(register_url), copy.read_bytes()
    broken = run_dag_test(
        DAG_ID,
        env={**env, URL_VARIABLE_ENV: server.url("/broken.json")},
        logical_date=RUN_DATE,
        retries=None,  # the DAG's own policy: a bad answer must not wait for retries
        home=tmp_path,
    )
    assert broken.state == "failed", broken.tail()
    assert broken.tasks == {
        "fetch_feed": "failed",
        "record_changes": "upstream_failed",
        "recompute_affected": "upstream_failed",
    }
    assert "Bank holidays not refreshed, the calendar is unchanged" in broken.stdout + broken.stderr
    assert "'2027-13-01', not YYYY-MM-DD" in broken.stdout + broken.stderr
    assert broken.asset_events == []
    assert _dump(register_url) == before
    assert copy.read_bytes() == copy_before


@pytest.fixture
def sqlite_register(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "register.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    _load_register(url)
    return url


def test_dag_run_with_an_unchanged_feed_skips_the_recompute(sqlite_register, server, tmp_path):
    env = {
        "STATCLOCK_DATABASE_URL": sqlite_register,
        "STATCLOCK_BANK_HOLIDAYS_COPY": str(tmp_path / "copy.json"),
        URL_VARIABLE_ENV: server.url("/unchanged.json"),
    }
    before = _dump(sqlite_register)
    run = run_dag_test(DAG_ID, env=env, logical_date=RUN_DATE, home=tmp_path)
    assert run.state == "success", run.tail()
    assert run.tasks == {
        "fetch_feed": "success",
        "record_changes": "success",
        "recompute_affected": "skipped",
    }
    assert run.xcom["record_changes"]["changed"] is False
    assert run.asset_events == []  # nothing changed: the clock and reminder DAGs are not woken
    assert _dump(sqlite_register) == before
    assert (tmp_path / "copy.json").exists()


def test_dag_run_without_a_feed_fails_the_fetch_task_only(sqlite_register, server, tmp_path):
    env = {
        "STATCLOCK_DATABASE_URL": sqlite_register,
        "STATCLOCK_BANK_HOLIDAYS_COPY": str(tmp_path / "copy.json"),
        URL_VARIABLE_ENV: server.url("/error"),
    }
    before = _dump(sqlite_register)
    run = run_dag_test(DAG_ID, env=env, logical_date=RUN_DATE, home=tmp_path)  # retries=0
    assert run.state == "failed", run.tail()
    assert run.tasks == {
        "fetch_feed": "failed",
        "record_changes": "upstream_failed",
        "recompute_affected": "upstream_failed",
    }
    assert "HTTP 500 Internal Server Error, expected 200" in run.stdout + run.stderr
    assert _dump(sqlite_register) == before
    assert not (tmp_path / "copy.json").exists()
