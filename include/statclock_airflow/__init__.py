"""Airflow glue shared by the DAGs: defaults, where the register is, the run's "as of" date.

Only DAG files, tasks and plugins import this package; the engine (``statutory_clock``) never
does. Nothing here touches a database or the network at import time, so DAG parsing stays fast.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

import pendulum

REGISTER_CONN_ID = "statclock_db"  # optional Airflow connection holding the register's URL
SMTP_CONN_ID = "statclock_smtp"  # the Airflow SMTP provider connection used for every email
TIMEZONE = "Europe/London"
CASES_ASSET_NAME = "statclock_register_cases"  # updated whenever a case's facts change

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "improvement-programme",
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}
TAGS = ["statclock"]


def cases_asset() -> Any:
    from airflow.sdk import Asset

    return Asset(name=CASES_ASSET_NAME, uri=f"statclock://register/{CASES_ASSET_NAME}")


def register_url() -> str:
    """The case register's SQLAlchemy URL.

    Precedence: the ``statclock_db`` Airflow connection if one is defined (its ``extra``
    ``{"sqlalchemy_url": ...}`` or its URI), else ``STATCLOCK_DATABASE_URL``, else the embedded
    SQLite default. Called inside tasks only, never at parse time.
    """
    from statutory_clock.store.db import default_url

    if os.environ.get("STATCLOCK_DATABASE_URL"):
        return os.environ["STATCLOCK_DATABASE_URL"]
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(REGISTER_CONN_ID)
    except Exception:  # no such connection: the embedded default is intended
        return default_url()
    url = (conn.extra_dejson or {}).get("sqlalchemy_url")
    return str(url) if url else str(conn.get_uri())


def register_engine() -> Any:
    from statutory_clock.store.db import make_engine

    return make_engine(register_url())


def run_actor(context: Any, fallback: str) -> str:
    """Who the audit trail records for this run: the authenticated Airflow user who triggered
    it (the form, the REST API, the Trigger button), else ``fallback`` (scheduled and asset runs
    are the system's own doing: name the DAG)."""
    user = getattr(context["dag_run"], "triggering_user_name", None)
    return str(user) if user else fallback


def run_as_of(context: Any) -> date:
    """The day a run is for, in Europe/London.

    For scheduled runs, the working day of the slot: ``data_interval_end`` (see
    statclock_airflow/timetables.py for why not the logical date). For runs triggered by an
    asset event or by hand, the day of the event or trigger (which may be a weekend: statuses
    are then as of that day); a manual run's logical date wins if one was given. Never the
    wall clock at task time, so a retried or re-run task decides exactly as the first did.
    """
    dag_run = context["dag_run"]
    instant = dag_run.data_interval_end or dag_run.logical_date or dag_run.run_after
    local: date = pendulum.instance(instant).in_timezone(pendulum.timezone(TIMEZONE)).date()
    return local
