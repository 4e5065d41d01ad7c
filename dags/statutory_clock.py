"""### Statutory clock

Every working day at 07:00 (Europe/London), and whenever a case changes (the register's
`statclock_register_cases` asset), recompute the clock of every open case: forecasts replaced by
the actual dates recorded, dependent milestones moved, statuses (upcoming, due, overdue, met,
missed, waived) updated **as of the run's working day**, and every change audited.

The work is one call into the engine package: `statutory_clock.store.register.recompute_all`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from statclock_airflow import DEFAULT_ARGS, TAGS, cases_asset, register_engine, run_actor, run_as_of
from statclock_airflow.timetables import WhenCasesChangeOr, WorkingDayTimetable


@dag(
    schedule=WhenCasesChangeOr(timetable=WorkingDayTimetable(at="07:00"), assets=cases_asset()),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "clock"],
    doc_md=__doc__,
)
def statutory_clock() -> None:
    @task
    def recompute_clocks(**context: object) -> dict[str, int]:
        """Recompute every open case as of the run's working day; returns what changed."""
        from statutory_clock.store.db import transaction
        from statutory_clock.store.register import recompute_all

        as_of = run_as_of(context)
        with transaction(register_engine()) as session:
            results = recompute_all(session, as_of, actor=run_actor(context, "statutory_clock DAG"))
        summary = {
            "cases": len(results),
            "added": sum(len(r.added) for r in results),
            "moved": sum(len(r.moved) for r in results),
            "removed": sum(len(r.removed) for r in results),
            "status_changes": sum(len(r.status_changed) for r in results),
        }
        print(f"Clocks recomputed as of {as_of:%A %-d %B %Y}: {summary}")
        return summary

    recompute_clocks()


statutory_clock()
