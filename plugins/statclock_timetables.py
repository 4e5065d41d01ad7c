"""Airflow plugin registering statclock's timetables (working days, and schedules in words).

The timetable itself lives in ``statclock_airflow.timetables`` (an installed package), so DAG
files import it from there whether or not ``plugins/`` is on ``sys.path``; Airflow needs it
registered here to deserialise the DAGs that use it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from statclock_airflow.timetables import (
    CronInWords,
    OnRequest,
    WhenCasesChangeOr,
    WorkingDayTimetable,
    as_of_date,
)

__all__ = [
    "CronInWords",
    "OnRequest",
    "StatclockTimetablesPlugin",
    "WhenCasesChangeOr",
    "WorkingDayTimetable",
    "as_of_date",
]


class StatclockTimetablesPlugin(AirflowPlugin):
    """Registers the timetables so serialised DAGs that use them can be loaded."""

    name = "statclock_timetables"
    # A plain class-level list because that is how AirflowPlugin declares its extension points.
    timetables = [WorkingDayTimetable, CronInWords, OnRequest, WhenCasesChangeOr]  # noqa: RUF012
