"""Alembic environment for the case register (run via statutory_clock.store.db.upgrade)."""

from __future__ import annotations

from alembic import context

from statutory_clock.store.db import make_engine
from statutory_clock.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
