"""run.sh's first start (statclock_airflow.first_start) against Airflow's real API app while
another writer holds Airflow's SQLite database, as a first start's own tasks do on the embedded
default: the request waits out SQLite's busy timeout and answers 500 ("database is locked").
A whole-suite run stopped there once ("the DAGs were not started: cannot switch on
statutory_clock: HTTP 500"); now the start asks again and switches the DAG on."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.ui.conftest import token

HOLD_SECONDS = 8.0  # longer than SQLite's 5 s busy timeout: the first request must fail


def _hold_write_lock(path: str, locked: threading.Event, seconds: float) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


@pytest.fixture
def api_client(airflow_app: Any) -> Iterator[Any]:
    """An admin's client of the API as first_start makes one (``/api/v2``, a bearer token),
    answering 500 rather than raising when the server fails a request, as a real server does."""
    from fastapi.testclient import TestClient

    client = TestClient(
        airflow_app,
        base_url="http://testserver/api/v2",
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {token('admin')}"},
    )
    yield client
    # The session's app keeps statutory_clock switched on (tests/ui/conftest.py).
    assert client.patch("/dags/statutory_clock", json={"is_paused": False}).status_code == 200
    client.close()


def test_switching_on_asks_again_while_airflows_database_is_locked(
    api_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow import settings

    from statclock_airflow.first_start import switch_on

    assert api_client.patch("/dags/statutory_clock", json={"is_paused": True}).status_code == 200
    answers: list[tuple[str, int]] = []

    def seen(response: httpx.Response) -> None:
        answers.append((response.request.method, response.status_code))

    api_client.event_hooks = {"response": [seen]}
    database = str(settings.engine.url.database)
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(database, locked, HOLD_SECONDS))
    holder.start()
    try:
        assert locked.wait(30)
        started = switch_on(api_client, ["statutory_clock"], date.today(), time.monotonic() + 120)
    finally:
        holder.join()
    assert 500 in {status for _, status in answers}, answers
    assert started.unpaused == ("statutory_clock",)
    assert api_client.get("/dags/statutory_clock").json()["is_paused"] is False
    said = capsys.readouterr().out
    assert "==> Airflow is busy (HTTP 500); asking again to " in said, said
