"""The watchdog's reading of the register, on both databases: which state a day's reminders
are in, and the verdict after a wait (the DAG runs are in tests/dags/test_watchdog_dag.py)."""

from __future__ import annotations

from datetime import date

import pytest

from statutory_clock.store import db
from statutory_clock.store.watchdog import (
    RemindersState,
    Verdict,
    all_clear_due,
    record_alert,
    record_failure,
    record_heartbeat,
    record_started,
    reminders_state,
    verdict,
    verdict_without_the_sensor,
)

FRI, MON, TUE = date(2017, 12, 1), date(2017, 12, 4), date(2017, 12, 5)


@pytest.fixture
def engine(register_url):
    engine = db.make_engine(register_url)
    yield engine
    engine.dispose()


def heartbeat(engine, day: date) -> None:
    with db.transaction(engine) as session:
        record_heartbeat(session, day, 3, "reminders DAG")


def test_states_follow_the_marks_a_run_leaves(engine):
    assert reminders_state(engine, MON) is RemindersState.NEVER_RUN
    record_started(engine, MON, "reminders DAG")
    record_started(engine, MON, "reminders DAG")  # a retry: still one mark
    assert reminders_state(engine, MON) is RemindersState.IN_PROGRESS
    assert reminders_state(engine, FRI) is RemindersState.BEFORE_FIRST_RUN
    assert reminders_state(engine, TUE) is RemindersState.NOT_STARTED
    record_failure(engine, MON, "reminders DAG", "send_reminders: SMTP down")
    assert reminders_state(engine, MON) is RemindersState.FAILED
    record_started(engine, MON, "reminders DAG")  # a re-run by hand: once only, so still failed
    assert reminders_state(engine, MON) is RemindersState.FAILED
    heartbeat(engine, MON)  # ... until it completes
    assert reminders_state(engine, MON) is RemindersState.COMPLETED


@pytest.mark.parametrize(
    ("state", "waited", "expected"),
    [
        (RemindersState.COMPLETED, 0, Verdict.WENT_OUT),
        (RemindersState.FAILED, 0, Verdict.FAILED),
        (RemindersState.IN_PROGRESS, 10_000, None),  # the sensor's own limit decides
        (RemindersState.NOT_STARTED, 599, None),
        (RemindersState.NOT_STARTED, 600, Verdict.MISSING),
        (RemindersState.BEFORE_FIRST_RUN, 0, Verdict.NOT_WATCHED),
        (RemindersState.NEVER_RUN, 599, None),
        (RemindersState.NEVER_RUN, 600, Verdict.NOT_WATCHED),
    ],
)
def test_verdicts(state, waited, expected):
    assert verdict(state, waited, 600) is expected
    if expected is not None:
        assert expected.alarming == (expected in (Verdict.FAILED, Verdict.MISSING))


def test_all_clear_is_due_only_after_an_alert_and_a_completed_run(engine):
    record_started(engine, MON, "reminders DAG")
    assert not all_clear_due(engine, MON)
    record_alert(engine, MON, "reminders_watchdog DAG", "pm@council.example")
    assert not all_clear_due(engine, MON)  # alerted, reminders not out yet
    heartbeat(engine, MON)
    assert all_clear_due(engine, MON)
    heartbeat(engine, TUE)
    assert not all_clear_due(engine, TUE)  # no alert that day


def test_the_alert_and_the_all_clear_say_what_happened_in_both_parts():
    from statutory_clock.store.watchdog import alert_message, all_clear_message

    alert = alert_message(
        MON, "pm@council.example", "statclock@localhost", Verdict.FAILED, "http://x.example"
    )
    clear = all_clear_message(MON, "pm@council.example", "statclock@localhost")
    for message, words in (
        (alert, "failed after all its retries"),
        (clear, "have now been sent"),
    ):
        assert len(message["Subject"]) < 80 and "Monday 4 December 2017" in message["Subject"]
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        for part in (text, html):
            assert "Monday 4 December 2017" in part and words in part
            assert "2017-12-04" not in part
    assert (
        'href="http://x.example/dags/reminders"'
        in alert.get_body(preferencelist=("html",)).get_content()
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        # The sensor failed (an Airflow race, apache/airflow#71172) while the reminders went out:
        # no alarm.
        (RemindersState.COMPLETED, Verdict.WENT_OUT),
        (RemindersState.IN_PROGRESS, Verdict.UNFINISHED),  # the sensor's limit: still going
        (RemindersState.FAILED, Verdict.FAILED),
        (RemindersState.NOT_STARTED, Verdict.MISSING),
        (RemindersState.BEFORE_FIRST_RUN, Verdict.NOT_WATCHED),
        (RemindersState.NEVER_RUN, Verdict.NOT_WATCHED),
    ],
)
def test_the_verdict_without_the_sensors_asks_the_register(state, expected):
    assert verdict_without_the_sensor(state, 600) is expected
