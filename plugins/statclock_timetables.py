"""Airflow plugin registering statclock's working-day timetable.

The timetable itself lives in ``statclock_airflow.timetables`` (an installed package), so DAG
files import it from there whether or not ``plugins/`` is on ``sys.path``; Airflow needs it
registered here to deserialise the DAGs that use it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from statclock_airflow.timetables import WorkingDayTimetable, as_of_date

__all__ = ["StatclockTimetablesPlugin", "WorkingDayTimetable", "as_of_date"]


class StatclockTimetablesPlugin(AirflowPlugin):
    """Registers the working-day timetable so serialised DAGs that use it can be loaded."""

    name = "statclock_timetables"
    # A plain class-level list because that is how AirflowPlugin declares its extension points.
    timetables = [WorkingDayTimetable]  # noqa: RUF012
