"""Airflow timetable: one run per England and Wales working day, at a local wall-clock time.

Lives in the installed ``statclock_airflow`` package (always importable, by DAG files, the
scheduler and tests alike) and is registered by the ``statclock_timetables`` plugin in
``plugins/`` so that the scheduler can deserialise DAGs that use it.

Importing this module does no database or network work: the working-day calendar is built from
the engine's bundled bank-holiday snapshot on first use, not at import.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pendulum
from airflow.exceptions import AirflowTimetableInvalid
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from airflow.timetables.simple import NullTimetable
from airflow.timetables.trigger import CronTriggerTimetable
from pendulum import DateTime

from statutory_clock.calendar import WorkingDayCalendar, default_calendar

DEFAULT_AT = "07:00"
DEFAULT_TIMEZONE = "Europe/London"

_AT_PATTERN = re.compile(r"^(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)$")


def as_of_date(instant: datetime, timezone: str = DEFAULT_TIMEZONE) -> date:
    """The working day a run is for: the local calendar date of its ``data_interval_end``.

    Use this, not ``logical_date`` or ``ds``, as the run's "as of" date (see
    ``WorkingDayTimetable`` for why Airflow makes the logical date the *previous* working day).
    For a scheduled run ``data_interval_end == run_after``, 07:00 local on the working day. For a
    manual run without a data interval (Airflow 3 allows a null logical date), pass
    ``run_after``: the answer is then the day it was triggered, which may not be a working day.
    """
    return pendulum.instance(instant).in_timezone(pendulum.timezone(timezone)).date()


class WorkingDayTimetable(Timetable):
    """One run per England and Wales working day at ``at`` local time in ``timezone``.

    Working days are those of ``statutory_clock.calendar.default_calendar()`` (SI 2007/462 reg
    1(2)): no runs at weekends, on bank holidays (one-offs such as 19 September 2022 included),
    on substitute days, on Christmas Day or on Good Friday. The slot is built from the local
    date and wall-clock time, then converted to UTC, so 07:00 Europe/London is 06:00 UTC in
    summer and 07:00 UTC in winter. UK clocks change on Sundays at 01:00 UTC, never on a working
    day, so no working-day slot in Europe/London is ever missing or ambiguous; for another
    timezone, a missing wall-clock time moves forward and an ambiguous one takes its first
    occurrence.

    **Data interval, run_after and logical date.** Each run is triggered at its working day's
    slot (``run_after``) and covers the data interval from the previous working day's slot to
    this one: the Monday run starts at Monday 07:00 and covers Friday 07:00 to Monday 07:00;
    the Tuesday after Easter Monday covers Thursday to Tuesday. This is the shape Airflow 3.3's
    own timetables produce: ``DagRunInfo.interval(start, end)`` sets ``run_after = end``, as
    ``CronTriggerTimetable`` (``airflow/timetables/trigger.py``, with ``interval``) and
    ``CronDataIntervalTimetable`` (``airflow/timetables/interval.py``) both do.

    Airflow does not let a timetable choose the logical date: ``DagRunInfo.logical_date`` is
    hard-wired to ``data_interval.start`` (``airflow/timetables/base.py``), and the scheduler
    rebuilds the ``DagRunInfo`` from the stored data interval before creating the run
    (``Timetable.next_run_info_from_dag_model``). So the logical date (and ``ds``) of the
    Monday run is Friday 07:00. The working day a run is *for* is therefore
    ``data_interval_end`` (equal to ``run_after`` for scheduled runs, and what the run id is
    built from), read in Europe/London; ``as_of_date()`` in this module does exactly that.
    Triggering at the end of the interval keeps reminders on the day they are due; making the
    interval start at this slot instead (logical date = this working day) would delay every
    run by one working day, which a deadline product cannot accept.

    **Catch-up.** With ``catchup=True`` the first run is the first slot at or after
    ``restriction.earliest`` (the DAG's ``start_date``) and every working day after it gets a
    run. With ``catchup=False`` the next run is never earlier than the latest slot at or before
    now, so a DAG switched on after a long pause runs once for the most recent working day
    rather than back-filling (the same rule as ``CronTriggerTimetable``). With ``catchup=True``
    but no ``start_date`` there is nothing to catch up from, so the same rule applies. After a
    run, the next one is on the working day after that run's own working day, so changing
    ``at`` never produces two runs for one working day. ``restriction.latest`` (``end_date``)
    is inclusive and compared with the slot.
    """

    def __init__(self, at: str = DEFAULT_AT, timezone: str = DEFAULT_TIMEZONE) -> None:
        match = _AT_PATTERN.match(at) if isinstance(at, str) else None
        if match is None:
            raise AirflowTimetableInvalid(
                f"WorkingDayTimetable at={at!r}: expected a 24-hour time such as '07:00'"
            )
        try:
            self._tz = pendulum.timezone(timezone)
        except (ValueError, TypeError) as error:  # InvalidTimezone is a ValueError
            raise AirflowTimetableInvalid(
                f"WorkingDayTimetable timezone={timezone!r}: not an IANA timezone name"
            ) from error
        self._at = at
        self._timezone = timezone
        self._hour = int(match["hour"])
        self._minute = int(match["minute"])
        self.description = (
            f"At {at} ({timezone}) on every working day in England and Wales: "
            "not at weekends, on bank holidays, Christmas Day or Good Friday"
        )

    # -- identity and serialisation -------------------------------------------------------------
    @property
    def at(self) -> str:
        return self._at

    @property
    def timezone(self) -> str:
        return self._timezone

    @property
    def summary(self) -> str:
        return f"Working days at {self._at} {self._timezone}"

    def serialize(self) -> dict[str, Any]:
        return {"at": self._at, "timezone": self._timezone}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        # Defaults let a DAG serialised by an older version (without a key) still load.
        return cls(at=data.get("at", DEFAULT_AT), timezone=data.get("timezone", DEFAULT_TIMEZONE))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkingDayTimetable):
            return NotImplemented
        return (self._at, self._timezone) == (other._at, other._timezone)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._at, self._timezone))

    def __repr__(self) -> str:
        return f"WorkingDayTimetable(at={self._at!r}, timezone={self._timezone!r})"

    # -- slots: a working day's run time, as a UTC instant ----------------------------------------
    @property
    def _calendar(self) -> WorkingDayCalendar:
        return default_calendar()  # cached per process; built on first use, never at import

    @staticmethod
    def _now() -> DateTime:
        """The current instant; a seam so tests can fix "now" without a time-travel library."""
        return pendulum.now("UTC")

    def _slot(self, day: date) -> DateTime:
        wall = (day.year, day.month, day.day, self._hour, self._minute)
        # fold=0 takes the first occurrence of an ambiguous time (clocks going back), so the run
        # is not an hour late; a time that does not exist (clocks going forward) comes back with
        # a different wall time, and fold=1 then moves it forward past the gap.
        local = pendulum.datetime(*wall, tz=self._tz, fold=0)
        if (local.hour, local.minute) != (self._hour, self._minute):
            local = pendulum.datetime(*wall, tz=self._tz, fold=1)
        return local.in_timezone(pendulum.UTC)

    def _local_date(self, instant: datetime) -> date:
        return pendulum.instance(instant).in_timezone(self._tz).date()

    def _is_slot_day(self, day: date) -> bool:
        return self._calendar.is_working_day(day)

    def _slot_at_or_after(self, instant: datetime) -> DateTime:
        day = self._local_date(instant)
        if self._is_slot_day(day) and self._slot(day) >= instant:
            return self._slot(day)
        return self._slot(self._calendar.add_working_days(day, 1))

    def _slot_at_or_before(self, instant: datetime) -> DateTime:
        day = self._local_date(instant)
        if self._is_slot_day(day) and self._slot(day) <= instant:
            return self._slot(day)
        return self._slot(self._calendar.add_working_days(day, -1))

    def _slot_after_run(self, run_end: datetime) -> DateTime:
        """The slot of the working day after the one a run (ending at ``run_end``) was for.

        Keyed on the run's local date rather than "first slot after the instant" so that a
        change of ``at`` (say 07:00 to 09:00) never yields a second run on the same day.
        """
        return self._slot(self._calendar.add_working_days(self._local_date(run_end), 1))

    def _interval_ending_at(self, slot: DateTime) -> DataInterval:
        previous = self._slot(self._calendar.add_working_days(self._local_date(slot), -1))
        return DataInterval(start=previous, end=slot)

    # -- the Timetable protocol --------------------------------------------------------------
    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """The interval of the latest slot at or before ``run_after``.

        Like ``CronDataIntervalTimetable``: a manual run on Monday at 09:00 gets Monday's
        scheduled interval (Friday 07:00 to Monday 07:00); one on Saturday, or on Monday at
        06:00, gets Friday's (Thursday to Friday).
        """
        return self._interval_ending_at(self._slot_at_or_before(run_after))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        earliest = restriction.earliest
        first_allowed = self._slot_at_or_after(earliest) if earliest is not None else None
        after_last = (
            self._slot_after_run(last_automated_data_interval.end)
            if last_automated_data_interval is not None
            else None
        )
        candidates = [c for c in (first_allowed, after_last) if c is not None]
        if not restriction.catchup or not candidates:
            # No back-filling: nothing earlier than the most recent slot that has passed.
            candidates.append(self._slot_at_or_before(self._now()))
        slot = max(candidates)
        if restriction.latest is not None and slot > restriction.latest:
            return None
        interval = self._interval_ending_at(slot)
        return DagRunInfo.interval(start=interval.start, end=interval.end)


# -- schedules that say what they do in words -----------------------------------------------------
# Airflow's DAG list shows a timetable's ``summary``: for a cron schedule that is the raw
# expression ("0 6 * * 1"), for ``schedule=None`` the word "None" and for an asset-or-time
# schedule "Asset or ...". A programme manager reads these; each schedule below says the same
# thing in words and keeps Airflow's behaviour exactly (they only rename). Registered in
# plugins/statclock_timetables.py so the scheduler can load the DAGs that use them.


class CronInWords(CronTriggerTimetable):
    """A cron schedule whose summary is its description: "At 06:00, only on Monday
    (Europe/London)" rather than "0 6 * * 1"."""

    @property
    def summary(self) -> str:
        return f"{self.description} ({self._timezone})"


class OnRequest(NullTimetable):
    """``schedule=None``, summarised as "On request" rather than "None"."""

    description = "Only when someone asks: the Trigger form in Airflow or its REST API"

    @property
    def summary(self) -> str:
        return "On request"


class WhenCasesChangeOr(AssetOrTimeSchedule):
    """An asset-or-time schedule for the register's cases asset, in words: "When a case
    changes, or working days at 07:00 Europe/London"."""

    def __init__(self, *, timetable: Timetable, assets: Any) -> None:
        super().__init__(timetable=timetable, assets=assets)
        inner = timetable.description
        self.description = f"Whenever a case's facts change, and {inner[:1].lower()}{inner[1:]}"

    @property
    def summary(self) -> str:
        inner = self.timetable.summary
        return f"When a case changes, or {inner[:1].lower()}{inner[1:]}"
