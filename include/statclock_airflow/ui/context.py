"""What every request needs from the register: a session, its calendar, and the day it is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session

LONDON = ZoneInfo("Europe/London")


@cache
def engine() -> Engine:
    """The register's engine, made on first use (never at import: the API server imports
    plugins while starting) and kept for the life of the process."""
    from statclock_airflow import register_engine

    made: Engine = register_engine()
    return made


def today() -> date:
    """The day the pages are as of: today in London. Pages show the register as it stands
    now, so the wall clock is right here (unlike in a DAG run, which has its own date)."""
    return datetime.now(LONDON).date()


def register_session() -> Iterator[Session]:
    """A FastAPI dependency: one session per request, closed afterwards."""
    with Session(engine()) as session:
        yield session
