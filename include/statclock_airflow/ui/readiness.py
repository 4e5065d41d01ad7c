"""What the authenticated health check reports: the register reachable and migrated to the
code's head, and when the clock and the reminders last ran successfully.

Healthy means the product can do its work: the register answers and its schema is the one this
code was written for (a register behind head, or ahead of it after a rollback of the code,
makes every task fail or misread). The last runs are reported, not judged: a weekend or a
bank holiday has no runs, and the watchdog DAG is what alarms when a day's reminders did not go
out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from statutory_clock.store import db
from statutory_clock.store.watchdog import last_completed

log = logging.getLogger(__name__)
CLOCK_DAG_ID = "statutory_clock"


@dataclass(frozen=True)
class ClockRun:
    run_id: str
    finished_at: datetime


@dataclass(frozen=True)
class RemindersRun:
    day: str
    completed_at: datetime
    sent: int | None


@dataclass(frozen=True)
class Readiness:
    reachable: bool
    database_revision: str | None
    head: str
    clock: ClockRun | None
    reminders: RemindersRun | None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive timestamps: the register and Airflow both store UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def last_reminders(engine: Engine) -> RemindersRun | None:
    completed = last_completed(engine)
    if completed is None:
        return None
    return RemindersRun(completed.day.isoformat(), _utc(completed.at), completed.sent)


def last_clock() -> ClockRun | None:
    """The newest successful statutory_clock run in Airflow's metadata database (the API
    server's own database, so reachable whenever this endpoint is)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        row = session.execute(
            select(DagRun.run_id, DagRun.end_date)
            .where(
                DagRun.dag_id == CLOCK_DAG_ID,
                DagRun.state == DagRunState.SUCCESS,
                DagRun.end_date.is_not(None),
            )
            .order_by(DagRun.end_date.desc())
            .limit(1)
        ).first()
    return None if row is None else ClockRun(str(row.run_id), _utc(row.end_date))


def readiness(engine: Engine) -> Readiness:
    head = db.head_revision()
    try:
        revision = db.current_revision(engine)
        reminders = last_reminders(engine)
    except Exception as exc:  # any failure to reach it is "unreachable", with no detail
        log.warning("Health check: the case register cannot be reached (%s)", type(exc).__name__)
        return Readiness(False, None, head, None, None, ["the case register cannot be reached"])
    problems = []
    if revision != head:
        problems.append(
            f"the register's schema is at revision {revision or 'none'}, this code's head is "
            f"{head}: run statclock db upgrade (airflow-init)"
        )
    try:
        clock = last_clock()
    except Exception as exc:  # Airflow's own database: reported as unknown, not as unhealthy
        log.warning("Health check: Airflow's DAG runs could not be read (%s)", type(exc).__name__)
        clock = None
    return Readiness(True, revision, head, clock, reminders, problems)
