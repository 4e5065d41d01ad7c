"""The programme manager's page, in process: Airflow's real API app with the project's plugins.

Fixtures (shared by the page, write, API and feed tests in this folder):

- ``ui_register_url``: a case register (SQLite and PostgreSQL, as the application's role) loaded
  as ``statclock demo load`` loads it: the five seed councils (history, closed) and the live
  fictional portfolio dated from today (four open councils). A fresh copy per test, so a test
  may write to it.
- ``client``: a ``fastapi.testclient.TestClient`` over ``airflow.api_fastapi.app.create_app()``
  (Airflow's own API server app: its auth manager, its plugin loading from ``plugins/``), with
  the plugin's register pointed at ``ui_register_url``. The page is at ``/statclock/``.
- ``pm_cookies``, ``viewer_cookies``, ``admin_cookies``: ``{"_token": <JWT>}`` for the simple
  auth manager's users ``pm`` (role User: may read and record facts), ``viewer`` (Viewer: may
  only read) and ``admin``; pass them as ``client.get(url, cookies=...)`` or set
  ``client.cookies``. Without a cookie, every page answers 401.
- ``seed_register_url``: a register holding the five seed councils as they stood in autumn 2017,
  open (``SEED_AS_OF``), for tests that write to those cases; a test module selects it for
  ``client`` by overriding ``ui_register_url`` with it.
- ``airflow_app``: the Airflow API app itself (one per session), with the statutory_clock DAG
  parsed into its metadata database and unpaused, so the cases asset is known to Airflow.

Airflow reads its home at import, so this module sets ``AIRFLOW_HOME`` (a temporary one) before
anything imports airflow, unless another conftest did first (tests/dags/conftest.py sets one
the same way). Airflow's metadata database (where the page looks up the DAG runs that computed
a milestone) is a copy of the migrated template of tests/dags/airflow_runner.py, switched to
when the app is made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

REPO = Path(__file__).resolve().parents[2]
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="statclock-airflow-ui-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "pm:user,viewer:viewer,admin:admin"
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(
    Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
)
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "statclock-ui-tests-" + uuid.uuid4().hex)
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "statclock-ui-tests-" + uuid.uuid4().hex)

from statutory_clock.store import db  # noqa: E402
from tests.conftest import _as_app, _drop_database, _fresh_postgres  # noqa: E402

LONDON = ZoneInfo("Europe/London")
CLOCK_DAG = REPO / "dags" / "statutory_clock.py"
SEED_AS_OF = date(2017, 10, 2)
USERS = {"pm": "user", "viewer": "viewer", "admin": "admin"}


def london_today() -> date:
    return datetime.now(LONDON).date()


def load_demo(url: str, today: date | None = None) -> None:
    """What `statclock demo load` loads: the seed councils and the live portfolio."""
    from sqlalchemy import select

    from statutory_clock.live_demo import live_portfolio
    from statutory_clock.store import register
    from statutory_clock.store.casefile import load_case_file
    from statutory_clock.store.models import Inspection
    from statutory_clock.store.reading import calendar_for

    today = today or london_today()
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as session:
            present = set(session.execute(select(Inspection.key)).scalars())
            calendar = calendar_for(session)
            docs = [load_case_file(p) for p in sorted((REPO / "include" / "demo").glob("*.yaml"))]
            docs += [case.document for case in live_portfolio(today, calendar)]
            for doc in docs:
                if doc.key not in present:
                    register.import_case(session, doc, "tests", today)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _loaded_sqlite(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui-register") / "loaded.db"
    shutil.copy(sqlite_template, path)
    load_demo(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _loaded_postgres(postgres_template: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL

    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"statclock_ui_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    owner = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    load_demo(_as_app(owner))
    yield name
    _drop_database(admin, name)
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ui_register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A register loaded with the demo councils, a fresh copy per test, on each database."""
    if request.param == "sqlite":
        path = tmp_path / "register.db"
        shutil.copy(request.getfixturevalue("_loaded_sqlite"), path)
        yield f"sqlite:///{path}"
    else:
        yield from _fresh_postgres(request.getfixturevalue("_loaded_postgres"))


@pytest.fixture(scope="session")
def airflow_app() -> Any:
    """Airflow's API server app with the project's plugins, on a migrated metadata database in
    which the statutory_clock DAG is parsed and unpaused (so a recorded fact's asset event has
    a consumer, as in the running product)."""
    from tests.dags.airflow_runner import fresh_airflow_home

    home = fresh_airflow_home()
    url = f"sqlite:///{home / 'airflow.db'}"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
    from airflow import settings

    settings.configure_vars()
    settings.reconfigure_orm()
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(CLOCK_DAG))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.execute(
            update(DagModel).where(DagModel.dag_id == "statutory_clock").values(is_paused=False)
        )
    purge_cached_app()
    return create_app()


@pytest.fixture
def seed_register_url(register_url: str) -> str:
    """A register (SQLite, PostgreSQL) holding the five seed councils as they stood in 2017,
    open."""
    from statutory_clock.store import register
    from tests.seeds import SEED_FILES, seed_as_it_stood

    engine = db.make_engine(register_url)
    try:
        with db.transaction(engine) as session:
            for path in SEED_FILES:
                register.import_case(session, seed_as_it_stood(path), "loader", SEED_AS_OF)
    finally:
        engine.dispose()
    return register_url


def token(username: str, role: str | None = None, **kwargs: Any) -> str:
    """A real Airflow JWT for a simple-auth-manager user, as the login page would issue."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    user = SimpleAuthManagerUser(username=username, role=role or USERS[username])
    return str(get_auth_manager().generate_jwt(user, **kwargs))


@pytest.fixture
def pm_cookies(airflow_app: Any) -> dict[str, str]:
    return {"_token": token("pm")}


@pytest.fixture
def viewer_cookies(airflow_app: Any) -> dict[str, str]:
    return {"_token": token("viewer")}


@pytest.fixture
def admin_cookies(airflow_app: Any) -> dict[str, str]:
    return {"_token": token("admin")}


@pytest.fixture
def client(
    airflow_app: Any, ui_register_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from statclock_airflow.ui import context

    monkeypatch.setenv("STATCLOCK_DATABASE_URL", ui_register_url)
    context.engine.cache_clear()
    try:
        yield TestClient(airflow_app)
    finally:
        if context.engine.cache_info().currsize:
            context.engine().dispose()
        context.engine.cache_clear()
