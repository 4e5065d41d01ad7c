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


def _whole_number(name: str, default: int | None) -> int | None:
    """A non-negative whole number from the environment; one line naming it if it is not."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        unit = "retries" if name.endswith("RETRIES") else "seconds"
        raise ValueError(f"{name} must be a whole number of {unit}, not {raw!r}")
    return int(raw)


def retry_policy() -> dict[str, Any]:
    """How a failed task is tried again: by default 3 more times, 5 minutes after the first
    failure, doubling (with Airflow's jitter) each time, so a mail relay or database that is
    away for half an hour costs a delay, not a lost day. A council's IT team (and the fault
    tests) can change it: ``STATCLOCK_TASK_RETRIES``, ``STATCLOCK_RETRY_DELAY_SECONDS`` and
    ``STATCLOCK_MAX_RETRY_DELAY_SECONDS`` (no cap by default)."""
    policy: dict[str, Any] = {
        "retries": _whole_number("STATCLOCK_TASK_RETRIES", 3),
        "retry_delay": timedelta(seconds=_whole_number("STATCLOCK_RETRY_DELAY_SECONDS", 300) or 0),
        "retry_exponential_backoff": True,
    }
    cap = _whole_number("STATCLOCK_MAX_RETRY_DELAY_SECONDS", None)
    if cap is not None:
        policy["max_retry_delay"] = timedelta(seconds=cap)
    return policy


DEFAULT_ARGS: dict[str, Any] = {"owner": "improvement-programme", **retry_policy()}
TAGS = ["statclock"]


def cases_asset() -> Any:
    from airflow.sdk import Asset

    return Asset(name=CASES_ASSET_NAME, uri=f"statclock://register/{CASES_ASSET_NAME}")


def register_url() -> str:
    """The case register's SQLAlchemy URL.

    Precedence: ``STATCLOCK_DATABASE_URL`` if set (compose sets it for every container),
    else the ``statclock_db`` Airflow connection if one is defined (its ``extra``
    ``{"sqlalchemy_url": ...}`` or its URI), else the embedded SQLite default. Called inside
    tasks only, never at parse time.
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
