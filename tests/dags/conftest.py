"""Airflow settings for DAG tests in this process, set before anything imports airflow.

Without AIRFLOW_HOME Airflow would write ~/airflow; the DAG runs themselves happen in
subprocesses with their own fresh homes (see airflow_runner.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from devtools.mailcatcher import MailCatcher
from statutory_clock.store import db, register
from tests.seeds import seed_as_it_stood

REPO = Path(__file__).resolve().parents[2]
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="statclock-airflow-pytest-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")

# -- registers and mail for dag.test() runs (the fixtures are shared by the DAG test modules) --

DEMO = sorted((REPO / "include" / "demo").glob("*.yaml"))
PM = "programme.manager@council.example"


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail") as catcher:
        yield catcher


def smtp_env(port: int) -> str:
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "disable_tls": True,
                "disable_ssl": True,
                "from_email": "statclock@council.example",
            },
        }
    )


def load_demo(url: str) -> str:
    engine = db.make_engine(url)
    with db.transaction(engine) as session:
        for path in DEMO:
            register.import_case(session, seed_as_it_stood(path), "tester", date(2017, 11, 1))
    engine.dispose()
    return url


@pytest.fixture
def demo_register(sqlite_register_url: str) -> str:
    """The demo councils on SQLite (the exactly-once test below also runs on PostgreSQL)."""
    return load_demo(sqlite_register_url)


def env_for(url: str, mail: MailCatcher, **extra: str) -> dict[str, str]:
    return {
        "STATCLOCK_DATABASE_URL": url,
        "AIRFLOW_CONN_STATCLOCK_SMTP": smtp_env(mail.port),
        "STATCLOCK_PROGRAMME_MANAGER": PM,
        **extra,
    }
