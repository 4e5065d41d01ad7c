"""The programme manager's page in-process: Airflow's real API app with the statclock_ui plugin
mounted at /statclock, real Airflow tokens, and a real register (SQLite and PostgreSQL).

Airflow reads AIRFLOW_HOME when first imported, so it is set here before anything imports it
(unless another conftest already did, for the same folders). The simple auth manager's users:
``pm`` (User role: may record facts), ``viewer`` (Viewer: may read) and ``admin``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if "airflow" not in sys.modules:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="statclock-ui-pytest-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "pm:user,viewer:viewer,admin:admin"
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "statclock-ui-tests-secret-key-" + "x" * 40)
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "statclock-ui-tests-jwt-secret-" + "y" * 40)

CLOCK_DAG = REPO / "dags" / "statutory_clock.py"
SEED_AS_OF = date(2017, 10, 2)


@pytest.fixture(scope="session")
def airflow_app() -> Any:
    """Airflow's API server app (with the plugin mounted), on a fresh metadata database in
    which the statutory_clock DAG is parsed and unpaused, so its asset is known."""
    from airflow.api_fastapi.app import create_app
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.db import initdb
    from airflow.utils.session import create_session
    from sqlalchemy import update

    initdb()
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(CLOCK_DAG))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.execute(
            update(DagModel).where(DagModel.dag_id == "statutory_clock").values(is_paused=False)
        )
    return create_app()


def token(username: str, role: str, **kwargs: Any) -> str:
    """A real Airflow JWT for a simple-auth-manager user, as the login page would issue."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    user = SimpleAuthManagerUser(username=username, role=role)
    return str(get_auth_manager().generate_jwt(user, **kwargs))


@pytest.fixture
def pm_cookies(airflow_app: Any) -> dict[str, str]:
    return {"_token": token("pm", "user")}


@pytest.fixture
def viewer_cookies(airflow_app: Any) -> dict[str, str]:
    return {"_token": token("viewer", "viewer")}


@pytest.fixture
def ui_register_url(register_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A register (SQLite, PostgreSQL) holding the five seed councils as they stood in 2017,
    open; the plugin reads it through STATCLOCK_DATABASE_URL."""
    from statclock_airflow.ui import context
    from statutory_clock.store import db, register
    from tests.seeds import SEED_FILES, seed_as_it_stood

    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        for path in SEED_FILES:
            register.import_case(session, seed_as_it_stood(path), "loader", SEED_AS_OF)
    engine.dispose()
    monkeypatch.setenv("STATCLOCK_DATABASE_URL", register_url)
    context.engine.cache_clear()
    yield register_url
    context.engine().dispose()
    context.engine.cache_clear()


@pytest.fixture
def client(airflow_app: Any, ui_register_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    # Not entered as a context manager: the API server's lifespan (bundles, executors) is not
    # what these tests are about.
    yield TestClient(airflow_app)
