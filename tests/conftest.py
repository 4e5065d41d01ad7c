"""Shared fixtures: real databases (SQLite file and PostgreSQL server), migrated by Alembic.

PostgreSQL comes from STATCLOCK_TEST_POSTGRES_URL (./test.sh starts a local server and sets it).
Each test gets its own database: on PostgreSQL a copy of a migrated template database, on SQLite
a copy of a migrated template file, so tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from statutory_clock.store import db

POSTGRES_URL = os.environ.get("STATCLOCK_TEST_POSTGRES_URL")
# The application's role (scripts/test-postgres.sh creates it): the tests' databases are made and
# migrated by the role of POSTGRES_URL, their owner, and the product runs as this one, as in
# production. Without it (another server), everything runs as the owner.
APP_ROLE = os.environ.get("STATCLOCK_TEST_POSTGRES_APP_ROLE", "statclock_app")
APP_PASSWORD = os.environ.get("STATCLOCK_TEST_POSTGRES_APP_PASSWORD", "statclock_app")
DEMO_DIR = Path(__file__).resolve().parents[1] / "include" / "demo"


@pytest.fixture(autouse=True)
def _isolated_rulebook_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    monkeypatch.setenv("STATCLOCK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    db.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("STATCLOCK_TEST_POSTGRES_URL is not set (./test.sh sets it)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"statclock_tmpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    owner = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    db.upgrade(_as_app(owner), owner=owner)
    yield name
    _drop_database(admin, name)
    admin.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    """Drop a throw-away database, waiting for an autovacuum worker to leave it.

    WITH (FORCE) ends other sessions, but not an autovacuum worker's: it runs as the superuser,
    which the test role may not signal ("must be a member of the role whose process is being
    terminated"). The worker is gone within moments, so try again for a while.
    """
    for attempt in range(40):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as error:
            insufficient_privilege = getattr(error.orig, "sqlstate", None) == "42501"
            if not insufficient_privilege or attempt == 39:
                raise
            time.sleep(0.25)


def _app_role_exists() -> bool:
    assert POSTGRES_URL
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": APP_ROLE}
            ).first()
    finally:
        engine.dispose()
    return found is not None


def _as_app(owner_url: str) -> str:
    """The same database as the application's role (or as the owner, if there is no such role)."""
    if not _app_role_exists():
        return owner_url
    url = make_url(owner_url).set(username=APP_ROLE, password=APP_PASSWORD)
    return url.render_as_string(hide_password=False)


def _fresh_postgres_pair(template: str) -> Iterator[tuple[str, str]]:
    """(application URL, owner URL) of a fresh copy of the migrated template database."""
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"statclock_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    owner = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield _as_app(owner), owner
    _drop_database(admin, name)
    admin.dispose()


def _fresh_postgres(template: str) -> Iterator[str]:
    for app, _owner in _fresh_postgres_pair(template):
        yield app


@pytest.fixture(params=["sqlite", "postgresql"])
def register_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(application URL, owner URL) of a migrated, empty case register on each real database.
    On SQLite both are the same file; on PostgreSQL the owner may migrate, the application not."""
    if request.param == "sqlite":
        path = tmp_path / "register.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}", f"sqlite:///{path}"
    else:
        yield from _fresh_postgres_pair(request.getfixturevalue("postgres_template"))


@pytest.fixture
def register_url(register_urls: tuple[str, str]) -> str:
    """A migrated, empty case register on each real database, as the application's role."""
    return register_urls[0]


@pytest.fixture
def register_owner_url(register_urls: tuple[str, str]) -> str:
    """The same register as its owner (migrations; a DBA's tampering in the audit tests)."""
    return register_urls[1]


@pytest.fixture
def sqlite_register_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty register on SQLite only: for slow end-to-end runs whose database
    behaviour the register tests already cover on both databases."""
    path = tmp_path / "register.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    yield from _fresh_postgres(postgres_template)


@pytest.fixture
def register_engine(register_url: str):
    engine = db.make_engine(register_url)
    yield engine
    engine.dispose()
