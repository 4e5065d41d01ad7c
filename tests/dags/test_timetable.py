"""WorkingDayTimetable: pure date logic, no scheduler and no database.

Every expectation is written in Europe/London wall-clock time and checked against the UTC
instants Airflow stores, so a daylight-saving slip shows up as a one-hour difference.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from unittest.mock import patch

import pendulum
import pytest
from airflow.exceptions import AirflowTimetableInvalid
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock.calendar import default_calendar

REPO = Path(__file__).resolve().parents[2]
PLUGINS_DIR = REPO / "plugins"

# Airflow puts plugins/ on sys.path at run time; do the same so the module is imported under the
# name the plugin manager gives it ("statclock_timetables"), which is what serialisation records.
if str(PLUGINS_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGINS_DIR))
statclock_timetables = importlib.import_module("statclock_timetables")
WorkingDayTimetable = statclock_timetables.WorkingDayTimetable
CronInWords = statclock_timetables.CronInWords
OnRequest = statclock_timetables.OnRequest
WhenCasesChangeOr = statclock_timetables.WhenCasesChangeOr
StatclockTimetablesPlugin = statclock_timetables.StatclockTimetablesPlugin
as_of_date = statclock_timetables.as_of_date

LONDON = pendulum.timezone("Europe/London")


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, tz=LONDON)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, tz="UTC")


def runs(
    timetable: Timetable,
    earliest: datetime | None,
    count: int,
    *,
    catchup: bool = True,
    latest: datetime | None = None,
) -> list[DagRunInfo]:
    """Ask for up to ``count`` runs, feeding each run's interval back in as the scheduler does."""
    restriction = TimeRestriction(earliest=earliest, latest=latest, catchup=catchup)
    found: list[DagRunInfo] = []
    last: DataInterval | None = None
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        if info is None:
            break
        found.append(info)
        last = info.data_interval
    return found


def run_days(infos: list[DagRunInfo]) -> list[date]:
    return [info.run_after.in_timezone(LONDON).date() for info in infos]


@pytest.fixture
def frozen_now() -> Iterator[list[pendulum.DateTime]]:
    """Fix the timetable's idea of "now"; set ``frozen_now[0]`` inside the test."""
    now = [utc(2024, 4, 10, 11)]
    with patch.object(WorkingDayTimetable, "_now", staticmethod(lambda: now[0])):
        yield now


# -- (a) an ordinary week -------------------------------------------------------------------------
def test_an_ordinary_week_runs_monday_to_friday_at_seven_london_time():
    infos = runs(WorkingDayTimetable(), london(2024, 6, 10), 6)
    assert run_days(infos) == [date(2024, 6, d) for d in (10, 11, 12, 13, 14, 17)]
    for info in infos:
        local = info.run_after.in_timezone(LONDON)
        assert (local.hour, local.minute) == (7, 0)
        assert info.run_after.utcoffset() == timedelta(0)  # stored in UTC
        assert (info.run_after.hour, info.run_after.minute) == (6, 0)  # June: BST, UTC+1


def test_the_monday_run_covers_friday_to_monday_and_is_for_monday():
    monday = runs(WorkingDayTimetable(), london(2024, 6, 17), 1)[0]
    assert monday.data_interval == DataInterval(utc(2024, 6, 14, 6), utc(2024, 6, 17, 6))
    assert monday.run_after == monday.data_interval.end == utc(2024, 6, 17, 6)
    # Airflow fixes the logical date to the interval start; the working day comes from the end.
    assert monday.logical_date == utc(2024, 6, 14, 6)
    assert as_of_date(monday.data_interval.end) == date(2024, 6, 17)
    assert as_of_date(monday.run_after) == date(2024, 6, 17)


def test_consecutive_intervals_are_contiguous():
    infos = runs(WorkingDayTimetable(), london(2024, 6, 10), 10)
    for before, after in pairwise(infos):
        assert after.data_interval.start == before.data_interval.end


# -- (b) Easter 2024 --------------------------------------------------------------------------
def test_easter_2024_skips_good_friday_and_easter_monday():
    infos = runs(WorkingDayTimetable(), london(2024, 3, 27), 4)
    assert run_days(infos) == [
        date(2024, 3, 27),
        date(2024, 3, 28),
        date(2024, 4, 2),  # Good Friday 29 March and Easter Monday 1 April skipped
        date(2024, 4, 3),
    ]
    tuesday = infos[2]
    # Thursday 07:00 GMT to Tuesday 07:00 BST: the interval spans both bank holidays and the
    # change to summer time on Sunday 31 March.
    assert tuesday.data_interval == DataInterval(utc(2024, 3, 28, 7), utc(2024, 4, 2, 6))


# -- (c) one-off bank holidays ------------------------------------------------------------------
def test_platinum_jubilee_2022_skips_2_and_3_june_and_runs_on_the_moved_30_may():
    infos = runs(WorkingDayTimetable(), london(2022, 5, 27), 5)
    assert run_days(infos) == [
        date(2022, 5, 27),
        date(2022, 5, 30),  # the late May holiday moved to 2 June, so this is a working day
        date(2022, 5, 31),
        date(2022, 6, 1),
        date(2022, 6, 6),
    ]


def test_state_funeral_19_september_2022_is_skipped():
    infos = runs(WorkingDayTimetable(), london(2022, 9, 15), 4)
    assert run_days(infos) == [
        date(2022, 9, 15),
        date(2022, 9, 16),
        date(2022, 9, 20),  # Monday 19 September: the State Funeral
        date(2022, 9, 21),
    ]
    assert infos[2].data_interval.start == utc(2022, 9, 16, 6)


# -- (d) Christmas 2021 substitute days -------------------------------------------------------
def test_christmas_2021_substitute_days_and_new_year_2022_substitute_are_skipped():
    infos = runs(WorkingDayTimetable(), london(2021, 12, 22), 7)
    assert run_days(infos) == [
        date(2021, 12, 22),
        date(2021, 12, 23),
        date(2021, 12, 24),
        date(2021, 12, 29),  # 25-26 weekend; 27 and 28 are the substitute days
        date(2021, 12, 30),
        date(2021, 12, 31),
        date(2022, 1, 4),  # 1 January was a Saturday; Monday 3 January the substitute
    ]
    assert all(info.run_after.hour == 7 for info in infos)  # winter: GMT, UTC+0


# -- (e) daylight saving ------------------------------------------------------------------------
def test_spring_2024_clock_change_around_easter():
    # The Friday before 31 March 2024 is Good Friday and the Monday after is Easter Monday, so
    # the runs either side of the change are Thursday (GMT) and Tuesday (BST).
    infos = runs(WorkingDayTimetable(), london(2024, 3, 28), 2)
    assert [i.run_after for i in infos] == [utc(2024, 3, 28, 7), utc(2024, 4, 2, 6)]
    assert all(i.run_after.in_timezone(LONDON).hour == 7 for i in infos)


def test_spring_2025_clock_change_friday_and_monday():
    infos = runs(WorkingDayTimetable(), london(2025, 3, 28), 2)
    assert [i.run_after for i in infos] == [utc(2025, 3, 28, 7), utc(2025, 3, 31, 6)]
    assert infos[1].data_interval.end - infos[1].data_interval.start == timedelta(hours=71)


def test_autumn_2024_clock_change_friday_and_monday():
    infos = runs(WorkingDayTimetable(), london(2024, 10, 25), 2)
    assert [i.run_after for i in infos] == [utc(2024, 10, 25, 6), utc(2024, 10, 28, 7)]
    assert [i.run_after.in_timezone(LONDON).hour for i in infos] == [7, 7]
    assert infos[1].data_interval.end - infos[1].data_interval.start == timedelta(hours=73)


def test_a_time_inside_the_clock_change_hour_still_runs_on_working_days_either_side():
    # 01:30 is missing on 31 March and doubled on 27 October, but both are Sundays: the runs
    # that matter are on the working days around them, at 01:30 local.
    infos = runs(WorkingDayTimetable(at="01:30"), london(2024, 10, 25), 2)
    assert [i.run_after for i in infos] == [utc(2024, 10, 25, 0, 30), utc(2024, 10, 28, 1, 30)]


# -- (f) catch-up ---------------------------------------------------------------------------
def test_catchup_true_backfills_every_working_day_from_the_start_date(frozen_now):
    frozen_now[0] = london(2024, 4, 10, 12)
    infos = runs(WorkingDayTimetable(), london(2024, 4, 2), 7, catchup=True)
    assert run_days(infos) == [date(2024, 4, d) for d in (2, 3, 4, 5, 8, 9, 10)]


def test_catchup_false_starts_from_the_latest_slot_not_later_than_now(frozen_now):
    frozen_now[0] = london(2024, 4, 10, 12)  # Wednesday, after 07:00
    infos = runs(WorkingDayTimetable(), london(2024, 4, 2), 3, catchup=False)
    assert run_days(infos) == [date(2024, 4, 10), date(2024, 4, 11), date(2024, 4, 12)]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(london(2024, 4, 13, 10), date(2024, 4, 12), id="saturday-gives-friday"),
        pytest.param(london(2024, 4, 15, 6, 59), date(2024, 4, 12), id="monday-before-seven"),
        pytest.param(london(2024, 4, 15, 7, 0), date(2024, 4, 15), id="monday-at-seven"),
        pytest.param(london(2024, 4, 1, 12), date(2024, 3, 28), id="easter-monday-gives-thursday"),
    ],
)
def test_catchup_false_first_run(frozen_now, now, expected):
    frozen_now[0] = now
    assert run_days(runs(WorkingDayTimetable(), london(2024, 1, 1), 1, catchup=False)) == [expected]


def test_catchup_false_never_repeats_the_last_run(frozen_now):
    timetable = WorkingDayTimetable()
    friday = timetable.infer_manual_data_interval(run_after=london(2024, 4, 12, 8))
    frozen_now[0] = london(2024, 4, 13, 10)  # Saturday: the latest slot is Friday's, already run
    info = timetable.next_dagrun_info(
        last_automated_data_interval=friday,
        restriction=TimeRestriction(earliest=london(2024, 1, 1), latest=None, catchup=False),
    )
    assert run_days([info]) == [date(2024, 4, 15)]


def test_catchup_false_with_a_future_start_date_waits_for_it(frozen_now):
    frozen_now[0] = london(2024, 4, 10, 12)
    assert run_days(runs(WorkingDayTimetable(), london(2024, 5, 6), 1, catchup=False)) == [
        date(2024, 5, 7)  # 6 May 2024 is the early May bank holiday
    ]


def test_catchup_true_without_a_start_date_behaves_like_catchup_false(frozen_now):
    frozen_now[0] = london(2024, 4, 10, 12)
    assert run_days(runs(WorkingDayTimetable(), None, 1, catchup=True)) == [date(2024, 4, 10)]


def test_a_start_date_moved_forward_is_respected_after_existing_runs():
    timetable = WorkingDayTimetable()
    last = timetable.infer_manual_data_interval(run_after=london(2024, 4, 3, 8))
    info = timetable.next_dagrun_info(
        last_automated_data_interval=last,
        restriction=TimeRestriction(earliest=london(2024, 4, 9), latest=None, catchup=True),
    )
    assert run_days([info]) == [date(2024, 4, 9)]


def test_a_changed_time_of_day_does_not_run_twice_on_one_working_day():
    last = WorkingDayTimetable().infer_manual_data_interval(run_after=london(2024, 4, 3, 8))
    info = WorkingDayTimetable(at="09:00").next_dagrun_info(
        last_automated_data_interval=last,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert info.run_after == london(2024, 4, 4, 9)
    assert info.data_interval.start == london(2024, 4, 3, 9)


def test_an_earliest_exactly_on_a_slot_includes_that_slot():
    (on_slot,) = runs(WorkingDayTimetable(), london(2024, 4, 2, 7), 1)
    (just_after,) = runs(WorkingDayTimetable(), london(2024, 4, 2, 7, 1), 1)
    assert on_slot.run_after == london(2024, 4, 2, 7)
    assert just_after.run_after == london(2024, 4, 3, 7)


# -- (g) the end date -----------------------------------------------------------------------
def test_latest_stops_scheduling_and_is_inclusive():
    infos = runs(WorkingDayTimetable(), london(2024, 4, 2), 10, latest=london(2024, 4, 4, 7))
    assert run_days(infos) == [date(2024, 4, 2), date(2024, 4, 3), date(2024, 4, 4)]
    infos = runs(WorkingDayTimetable(), london(2024, 4, 2), 10, latest=london(2024, 4, 4, 6, 59))
    assert run_days(infos) == [date(2024, 4, 2), date(2024, 4, 3)]


def test_latest_before_the_first_slot_schedules_nothing():
    assert runs(WorkingDayTimetable(), london(2024, 3, 29), 5, latest=london(2024, 4, 1, 23)) == []


# -- manual runs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("run_after", "start_day", "end_day"),
    [
        pytest.param(london(2024, 6, 17, 9), 14, 17, id="monday-after-seven"),
        pytest.param(london(2024, 6, 17, 7), 14, 17, id="monday-at-seven"),
        pytest.param(london(2024, 6, 17, 6), 13, 14, id="monday-before-seven"),
        pytest.param(london(2024, 6, 15, 12), 13, 14, id="saturday"),
    ],
)
def test_manual_runs_get_the_interval_of_the_latest_slot(run_after, start_day, end_day):
    interval = WorkingDayTimetable().infer_manual_data_interval(run_after=run_after)
    assert interval == DataInterval(london(2024, 6, start_day, 7), london(2024, 6, end_day, 7))


# -- (h) serialisation, UI text and validation ------------------------------------------------
def test_serialize_deserialize_round_trip_through_json():
    timetable = WorkingDayTimetable(at="08:30", timezone="Europe/London")
    data = json.loads(json.dumps(timetable.serialize()))
    assert data == {"at": "08:30", "timezone": "Europe/London"}
    restored = WorkingDayTimetable.deserialize(data)
    assert restored == timetable and hash(restored) == hash(timetable)
    assert restored.summary == "Working days at 08:30 Europe/London"
    assert runs(restored, london(2024, 3, 27), 3) == runs(timetable, london(2024, 3, 27), 3)
    assert WorkingDayTimetable.deserialize({}) == WorkingDayTimetable()


def test_summary_and_description_for_the_ui():
    timetable = WorkingDayTimetable()
    assert timetable.summary == "Working days at 07:00 Europe/London"
    assert "working day in England and Wales" in timetable.description
    assert "bank holidays" in timetable.description and "Good Friday" in timetable.description
    assert timetable.periodic and timetable.can_be_scheduled


@pytest.mark.parametrize("at", ["7:00", "24:00", "07:60", "0700", "", "07:00:00"])
def test_a_bad_time_of_day_is_rejected(at):
    with pytest.raises(AirflowTimetableInvalid, match="at="):
        WorkingDayTimetable(at=at)


def test_a_bad_timezone_is_rejected():
    with pytest.raises(AirflowTimetableInvalid, match="timezone="):
        WorkingDayTimetable(timezone="Europe/Londres")


# -- (i) the plugin -------------------------------------------------------------------------
def test_the_plugin_registers_the_timetable():
    assert issubclass(StatclockTimetablesPlugin, AirflowPlugin)
    assert StatclockTimetablesPlugin.name == "statclock_timetables"
    assert StatclockTimetablesPlugin.timetables == [
        WorkingDayTimetable,
        CronInWords,
        OnRequest,
        WhenCasesChangeOr,
    ]
    # Timetable is a runtime-checkable Protocol with data members, so issubclass() raises;
    # the plugin manager needs a real subclass, which the MRO shows.
    assert Timetable in WorkingDayTimetable.__mro__


AIRFLOW_CHECK = """
import json, sys
import pendulum
from airflow import plugins_manager
from airflow.serialization.serialized_objects import DagSerialization

timetables = plugins_manager.get_timetables_plugins()
assert "statclock_airflow.timetables.WorkingDayTimetable" in timetables, timetables

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from statclock_airflow.timetables import WorkingDayTimetable

with DAG("working_days", schedule=WorkingDayTimetable(), catchup=True,
         start_date=pendulum.datetime(2024, 3, 27, tz="Europe/London")) as dag:
    EmptyOperator(task_id="noop")
restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
assert restored.timetable == WorkingDayTimetable(), restored.timetable
infos = restored.iter_dagrun_infos_between(None, pendulum.datetime(2024, 4, 3, 12, tz="UTC"))
print(json.dumps([str(i.run_after) for i in infos]))
"""


def test_airflow_loads_the_plugin_and_round_trips_a_dag_using_the_timetable(tmp_path):
    """End to end through Airflow's own plugin manager and DAG serialisation (no database)."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = subprocess.run(
        [sys.executable, "-c", AIRFLOW_CHECK], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "2024-03-27 07:00:00+00:00",
        "2024-03-28 07:00:00+00:00",
        "2024-04-02 06:00:00+00:00",
        "2024-04-03 06:00:00+00:00",
    ]


EVERY_DAG_CHECK = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
out = {}
for dag_id, dag in sorted(bag.dags.items()):
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    out[dag_id] = [type(restored.timetable).__name__, restored.timetable.summary,
                   restored.timetable.description, restored.timetable.can_be_scheduled]
print(json.dumps(out))
"""


def test_every_dag_schedule_reads_in_words_after_airflow_serialises_it(tmp_path):
    """What the UI shows (the deserialised timetable's summary, as the scheduler stores it in
    DagModel.timetable_summary) is words, never a cron string, "None" or "Asset"."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = subprocess.run(
        [sys.executable, "-c", EVERY_DAG_CHECK, str(PLUGINS_DIR.parent / "dags")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["bank_holidays"][:2] == ["CronInWords", "At 06:00, only on Monday (Europe/London)"]
    clock = found["statutory_clock"]
    assert clock[1] == "When a case changes, or working days at 07:00 Europe/London"
    assert "Whenever a case's facts change, and at 07:00 (Europe/London)" in clock[2]
    for dag_id in ("register_inspection", "confirm_milestone"):
        assert found[dag_id] == [
            "OnRequest",
            "On request",
            "Only when someone asks: the Trigger form in Airflow or its REST API",
            False,  # still never scheduled
        ]
    for dag_id in ("reminders", "reminders_watchdog", "board_pack"):
        assert found[dag_id][1].startswith("Working days at "), found[dag_id]
    for dag_id, (_, summary, _, _) in found.items():
        assert not re.search(r"[*\d] [*\d]", summary), (dag_id, summary)  # no cron fields
        assert summary not in ("None", "") and not summary.startswith("Asset"), (dag_id, summary)


IMPORT_CHECK = """
import socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("network access at import")
socket.socket.connect = refuse
socket.create_connection = refuse
sys.path.insert(0, sys.argv[1])
import statclock_timetables
import statclock_airflow.timetables
from statutory_clock.calendar import default_calendar
assert default_calendar.cache_info().currsize == 0, "calendar built at import"
print("ok")
"""


def test_importing_the_module_does_no_network_or_database_work(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, str(PLUGINS_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
    assert not list(tmp_path.rglob("*.db")), "a database file was created at import"


# -- properties -------------------------------------------------------------------------------
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 3), max_value=datetime(2040, 12, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(start=INSTANTS)
def test_property_runs_are_on_working_days_at_seven_and_none_is_skipped(start):
    calendar = default_calendar()
    infos = runs(WorkingDayTimetable(), start, 12)
    assert len(infos) == 12
    days = run_days(infos)
    for info, day in zip(infos, days, strict=True):
        local = info.run_after.in_timezone(LONDON)
        assert calendar.is_working_day(day)
        assert (local.hour, local.minute, local.second) == (7, 0, 0)
        assert info.data_interval.end == info.run_after
        assert as_of_date(info.data_interval.end) == day
    # No working day between the start and the first run, nor between consecutive runs.
    assert infos[0].run_after >= start
    assert infos[0].data_interval.start < start
    for before, after in pairwise(days):
        assert calendar.add_working_days(before, 1) == after
    for before, after in pairwise(infos):
        assert after.data_interval.start == before.data_interval.end


@settings(max_examples=100, deadline=None)
@given(
    start=INSTANTS,
    hour=st.integers(min_value=0, max_value=23),
    minute=st.sampled_from([0, 1, 15, 30, 59]),
)
def test_property_any_time_of_day_is_kept_in_local_time(start, hour, minute):
    at = f"{hour:02d}:{minute:02d}"
    for info in runs(WorkingDayTimetable(at=at), start, 3):
        local = info.run_after.in_timezone(LONDON)
        assert (local.hour, local.minute) == (hour, minute)
        assert default_calendar().is_working_day(local.date())


@settings(max_examples=150, deadline=None)
@given(now=INSTANTS)
def test_property_catchup_false_picks_the_latest_slot_not_later_than_now(now):
    timetable = WorkingDayTimetable()
    with patch.object(WorkingDayTimetable, "_now", staticmethod(lambda: pendulum.instance(now))):
        (info,) = runs(timetable, None, 1, catchup=False)
    assert info.run_after <= now
    assert info.run_after.in_timezone(LONDON).hour == 7
    following = timetable.next_dagrun_info(
        last_automated_data_interval=info.data_interval,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert following.run_after > now
    # Manual runs agree with the scheduler about which working day "now" belongs to.
    assert timetable.infer_manual_data_interval(run_after=pendulum.instance(now)) == (
        info.data_interval
    )
