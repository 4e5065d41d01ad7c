"""Connecting to the case register, and running its migrations.

One setting chooses the database: ``STATCLOCK_DATABASE_URL`` (a SQLAlchemy URL). Without it the
embedded default is a SQLite file, ``var/statclock.db`` under the working directory. PostgreSQL
(16 in production, 15 works too) is the production database:
``postgresql+psycopg://user:password@host/statclock``.

On PostgreSQL two roles keep the audit trail out of the application's reach: an owner role
(``STATCLOCK_DATABASE_OWNER_URL``) owns the tables and runs the migrations; the application's
role (the user of ``STATCLOCK_DATABASE_URL``) is granted what it needs and no more, and on
``audit_event`` only INSERT and SELECT, so it can neither rewrite, delete, truncate the trail
nor drop its triggers. See docs/deployment.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

URL_SETTING = "STATCLOCK_DATABASE_URL"
OWNER_URL_SETTING = "STATCLOCK_DATABASE_OWNER_URL"
MIGRATIONS = Path(__file__).with_name("migrations")


def default_url() -> str:
    return os.environ.get(URL_SETTING) or f"sqlite:///{Path.cwd() / 'var' / 'statclock.db'}"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or default_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_transactions(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_transactions(engine: Engine) -> None:
    """SQLite: enforce foreign keys and take the write lock when a transaction begins.

    pysqlite's default defers BEGIN until the first write, so two writers can both read, then
    one fails to upgrade its lock. BEGIN IMMEDIATE serialises writers from the start; together
    with the case row lock on PostgreSQL this means no update is ever lost.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed if the block succeeds, rolled back entirely otherwise."""
    with session_factory(engine)() as session, session.begin():
        yield session


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", (url or default_url()).replace("%", "%%"))
    return config


def owner_url() -> str | None:
    return os.environ.get(OWNER_URL_SETTING) or None


def upgrade(url: str | None = None, revision: str = "head", owner: str | None = None) -> str | None:
    """Migrate the register to ``revision`` (creating the database file if needed).

    With an owner URL (``owner``, else ``STATCLOCK_DATABASE_OWNER_URL``) on PostgreSQL, the
    migrations run as the owner and the application role named in ``url`` is then granted its
    privileges. Returns the role granted, if any.
    """
    from alembic import command
    from sqlalchemy.engine import make_url

    app_url = url or default_url()
    owner = owner or owner_url()
    command.upgrade(alembic_config(owner or app_url), revision)
    app_role = make_url(app_url).username
    separate = owner is not None and app_role != make_url(owner).username
    if owner and separate and app_url.startswith("postgresql") and app_role:
        grant_application_role(owner, app_role)
        return app_role
    return None


# Every table is the application's to read and write, except these: the audit trail is
# append-only (INSERT and SELECT); the schema version and the secrets a migration made (the
# calendar feeds' token key) are the owner's (SELECT).
_APPEND_ONLY = ("audit_event",)
_READ_ONLY = ("alembic_version", "register_secret")


def grant_application_role(owner: str, role: str) -> None:
    """Grant ``role`` its privileges on every table and sequence; run after each migration, so
    tables a later migration adds are covered too. Idempotent."""
    engine = create_engine(owner)
    try:
        with engine.begin() as connection:
            quote = connection.dialect.identifier_preparer.quote
            who = quote(role)
            connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {who}")
            connection.exec_driver_sql(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {who}"
            )
            connection.exec_driver_sql(
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}"
            )
            # A register migrated to an earlier revision may not have every table yet.
            present = set(
                connection.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).scalars()
            )
            for table in (*_APPEND_ONLY, *_READ_ONLY):
                if table in present:
                    connection.exec_driver_sql(
                        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON "
                        f"{quote(table)} FROM {who}"
                    )
            for table in _READ_ONLY:
                if table in present:
                    connection.exec_driver_sql(f"REVOKE INSERT ON {quote(table)} FROM {who}")
    finally:
        engine.dispose()


def application_role_problems(engine: Engine) -> list[str]:
    """What the connected role may do to the audit trail that it should not (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        return []
    problems = []
    with engine.connect() as connection:
        owns = connection.exec_driver_sql(
            "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'audit_event'"
        ).scalar()
        if owns:
            problems.append(
                "the application's role owns audit_event (it could drop the triggers): "
                f"migrate with {OWNER_URL_SETTING} set to a separate owner role"
            )
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            allowed = connection.exec_driver_sql(
                f"SELECT has_table_privilege(current_user, 'audit_event', '{privilege}')"
            ).scalar()
            if allowed and not owns:
                problems.append(f"the application's role may {privilege} audit_event")
    return problems


@cache
def head_revision() -> str:
    """The newest migration this code has (read from the migration scripts once)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return str(head)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        rev: str | None = MigrationContext.configure(connection).get_current_revision()
        return rev
