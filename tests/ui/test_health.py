"""The plugin's authenticated health check, ``/statclock/api/health``, on Airflow's real API app
(SQLite and PostgreSQL registers): a reader sees the register, its migrations against the code's
head and the last successful clock and reminders runs; 503 when the register cannot be reached
or is behind head; 401 without a token. The public liveness route ``/statclock/health`` stays
(tests/ui/test_api.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from statclock_airflow.ui import api_models, context
from statutory_clock.store import db, watchdog
from statutory_clock.store.db import head_revision
from tests.ui.test_writes import ROOT

URL = f"{ROOT}/api/health"


def health(client: Any, cookies: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    response = client.get(URL, cookies=cookies)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    if response.status_code in (200, 503):  # the documented model describes it exactly
        assert api_models.Readiness.model_validate(body).model_dump(by_alias=True) == body
    return response.status_code, body


@pytest.fixture
def clock_run(airflow_app: Any) -> Any:
    """A successful statutory_clock run in Airflow's metadata database, removed afterwards."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType
    from sqlalchemy import delete

    run_id = f"scheduled__health_{uuid.uuid4().hex[:8]}"
    finished = datetime(2026, 11, 30, 7, 0, 12, tzinfo=UTC)
    with create_session() as session:
        run = DagRun(
            dag_id="statutory_clock",
            run_id=run_id,
            run_type=DagRunType.SCHEDULED,
            state=DagRunState.SUCCESS,
            run_after=finished - timedelta(seconds=12),
        )
        run.start_date = finished - timedelta(seconds=10)
        run.end_date = finished
        session.add(run)
    yield run_id, finished
    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.run_id == run_id))


def test_a_viewer_reads_health_and_the_last_runs(
    client, viewer_cookies, ui_register_url, clock_run
):
    code, body = health(client, viewer_cookies)
    assert code == 200
    assert body["status"] == "ok" and body["register"] == "ok" and body["problems"] == []
    assert body["migrations"] == {
        "database": head_revision(),
        "head": head_revision(),
        "at_head": True,
    }
    run_id, finished = clock_run
    assert body["clock"] == {"run_id": run_id, "finished_at": finished.isoformat()}
    assert body["reminders"] is None  # the demo register has had no reminders run

    # Two days' reminders runs, as the reminders DAG marks them: the later day is reported.
    engine = db.make_engine(ui_register_url)
    try:
        for day, sent in ((date(2026, 11, 27), 4), (date(2026, 11, 30), 7)):
            with db.transaction(engine) as session:
                watchdog.record_heartbeat(session, day, sent, "reminders DAG")
    finally:
        engine.dispose()
    code, body = health(client, viewer_cookies)
    assert code == 200
    assert body["reminders"]["day"] == "2026-11-30" and body["reminders"]["sent"] == 7
    completed = datetime.fromisoformat(body["reminders"]["completed_at"])
    assert completed.utcoffset() == timedelta(0)
    assert abs(completed - datetime.now(UTC)) < timedelta(hours=1)


def test_no_token_is_401(client, ui_register_url):
    response = client.get(URL)
    assert response.status_code == 401
    forged = client.get(URL, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code in (401, 403)
    assert "register" not in forged.text


def test_a_register_behind_head_is_unhealthy(
    airflow_app, viewer_cookies, tmp_path: Path, monkeypatch
):
    from alembic.script import ScriptDirectory
    from fastapi.testclient import TestClient

    scripts = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    previous = scripts.get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    db.upgrade(url, revision=previous)
    monkeypatch.setenv("STATCLOCK_DATABASE_URL", url)
    context.engine.cache_clear()
    try:
        code, body = health(TestClient(airflow_app), viewer_cookies)
    finally:
        if context.engine.cache_info().currsize:
            context.engine().dispose()
        context.engine.cache_clear()
    assert code == 503
    assert body["status"] == "unhealthy" and body["register"] == "ok"
    assert body["migrations"] == {"database": previous, "head": head_revision(), "at_head": False}
    assert body["problems"] == [
        f"the register's schema is at revision {previous}, this code's head is "
        f"{head_revision()}: run statclock db upgrade (airflow-init)"
    ]


def test_an_unreachable_register_is_503_without_detail(airflow_app, viewer_cookies, monkeypatch):
    from fastapi.testclient import TestClient

    secret = "s3cret-pw"
    monkeypatch.setenv(
        "STATCLOCK_DATABASE_URL",
        f"postgresql+psycopg://someone:{secret}@127.0.0.1:1/statclock?connect_timeout=2",
    )
    context.engine.cache_clear()
    try:
        response = TestClient(airflow_app).get(URL, cookies=viewer_cookies)
    finally:
        context.engine.cache_clear()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unhealthy",
        "register": "unreachable",
        "migrations": None,
        "clock": None,
        "reminders": None,
        "problems": ["the case register cannot be reached"],
    }
    for detail in (secret, "someone", "127.0.0.1", "psycopg"):
        assert detail not in response.text
