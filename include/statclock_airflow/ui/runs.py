"""Which Airflow DAG runs computed a milestone: links from the council page to Airflow's runs.

The audit trail says when each milestone changed (its rows for ``milestone <id>``); the DAG
runs of the register's DAGs that were running at that moment are the ones that changed it.
One query to Airflow's metadata database per page, and never an error on the page: if that
database cannot be read (a CLI-only install, a migration under way), the page shows no links.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

log = logging.getLogger(__name__)

# The DAGs that write milestones (the same ids as in dags/).
CLOCK_DAGS = ("statutory_clock", "register_inspection", "confirm_milestone", "bank_holidays")
MAX_MOMENTS = 200  # the most recent audited moments looked up for one page


@dataclass(frozen=True)
class RunLink:
    dag_id: str
    run_id: str
    start: datetime
    state: str

    def path(self) -> str:
        """The run's page in Airflow's UI, relative to Airflow's base URL."""
        return f"/dags/{quote(self.dag_id, safe='')}/runs/{quote(self.run_id, safe='')}"


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive timestamps: the register and Airflow both store UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def runs_at(moments: Mapping[str, Iterable[datetime]]) -> dict[str, tuple[RunLink, ...]]:
    """For each key (a milestone id), the runs of :data:`CLOCK_DAGS` that were running at any
    of its moments, newest first. Empty when Airflow's database cannot be read."""
    wanted = {key: sorted({_utc(m) for m in at}) for key, at in moments.items()}
    every = sorted({m for at in wanted.values() for m in at})[-MAX_MOMENTS:]
    if not every:
        return {}
    try:
        found = _query(every)
    except Exception as exc:  # fail soft: no links rather than no page
        log.warning("statclock page: Airflow's DAG runs could not be read (%s)", exc)
        return {}
    result: dict[str, tuple[RunLink, ...]] = {}
    for key, at in wanted.items():
        hits = {
            run
            for run, end in found
            for moment in at
            if run.start <= moment and (end is None or moment <= end)
        }
        if hits:
            result[key] = tuple(sorted(hits, key=lambda r: r.start, reverse=True))
    return result


def _query(moments: list[datetime]) -> list[tuple[RunLink, datetime | None]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import and_, or_, select

    running_at = [
        and_(DagRun.start_date <= m, or_(DagRun.end_date.is_(None), DagRun.end_date >= m))
        for m in moments
    ]
    query = select(
        DagRun.dag_id, DagRun.run_id, DagRun.start_date, DagRun.end_date, DagRun.state
    ).where(DagRun.dag_id.in_(CLOCK_DAGS), DagRun.start_date.is_not(None), or_(*running_at))
    rows: list[tuple[RunLink, datetime | None]] = []
    with create_session() as session:
        for dag_id, run_id, start, end, state in session.execute(query):
            link = RunLink(str(dag_id), str(run_id), _utc(start), str(state or ""))
            rows.append((link, _utc(end) if end is not None else None))
    return rows
