"""### Reminders watchdog (backstop)

At 09:00 on every working day, check that today's reminders went out: the `reminders` DAG
leaves marks in the register's audit trail (run started, run completed, run failed for good).
The `wait_for_reminders` sensor looks every minute and decides:

- **went out**: the run completed: nothing to say;
- **failed**: the run failed after all its retries: alert at once;
- **still running or retrying**: wait, up to the watchdog's limit (default 90 minutes, beyond
  the reminders' whole retry window), then alert that it did not finish;
- **no run started** within the patience (default 10 minutes): alert: the scheduler may be
  stopped or stuck;
- **not watched**: reminders have never run before that day in this register (a new
  installation whose first start falls after the slot): nothing was due to go out.

`alert_programme_manager` emails the programme manager once per day (a re-run does not repeat
it) and the run shows as failed, which is the truth. When reminders do go out after an alert,
the `reminders` DAG sends one all-clear email.

This plays the part of an Airflow Deadline Alert on the `reminders` DAG, but checks the outcome
(reminders recorded as sent) rather than a run's state, and works in `dag.test()`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import PokeReturnValue, TriggerRule, dag, task

from statclock_airflow import DEFAULT_ARGS, SMTP_CONN_ID, TAGS, register_engine, run_as_of
from statclock_airflow.timetables import WorkingDayTimetable

# How long a run may take to *start* before the alarm (seconds).
PATIENCE = float(os.environ.get("STATCLOCK_WATCHDOG_PATIENCE_SECONDS", "600"))
# How long a run that started may take to finish, retries included: the reminders' three
# retries wait 5, 10 and 20 minutes (exponential back-off), so 90 minutes is past the last.
LIMIT = float(os.environ.get("STATCLOCK_WATCHDOG_LIMIT_SECONDS", "5400"))
POKE = float(os.environ.get("STATCLOCK_WATCHDOG_POKE_SECONDS", "60"))


@dag(
    schedule=WorkingDayTimetable(at="09:00"),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "reminders", "backstop"],
    doc_md=__doc__,
)
def reminders_watchdog() -> None:
    # "poke", not "reschedule": Airflow 3.3 can fail a rescheduled sensor when the executor's
    # success for one poke arrives after the next poke was queued ("finished with state success,
    # but the task instance's state attribute is queued": apache/airflow#71172, fix open in
    # #71194), and a failed sensor would tell the programme manager, falsely, that the reminders
    # did not finish. It happened under load in the first-start test. The slot it holds is free
    # within seconds on a good day (the reminders went out at 07:30) and for 90 minutes at most.
    @task.sensor(poke_interval=POKE, timeout=max(LIMIT, PATIENCE), mode="poke", retries=0)
    def wait_for_reminders(**context: object) -> PokeReturnValue:
        """Done as soon as the day's reminders run has an outcome worth a verdict."""
        from datetime import UTC, datetime

        from statutory_clock.store.watchdog import reminders_state, verdict

        as_of = run_as_of(context)
        started = getattr(context["ti"], "start_date", None) or datetime.now(UTC)
        waited = (datetime.now(UTC) - started).total_seconds()
        state = reminders_state(register_engine(), as_of)
        found = verdict(state, waited, PATIENCE)
        print(
            f"Reminders for {as_of:%A %-d %B %Y}: {state.value}"
            + (f"; verdict: {found.value}" if found else f"; waiting ({waited:.0f} s so far)")
        )
        return PokeReturnValue(is_done=found is not None, xcom_value=found.name if found else None)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def alert_programme_manager(**context: object) -> str:
        """Tell the programme manager, once a day, if the reminders truly did not go out."""
        from airflow.sdk.exceptions import AirflowSkipException

        from statclock_airflow.mail import smtp_sender
        from statutory_clock.addresses import base_url
        from statutory_clock.store.watchdog import (
            Verdict,
            alert_already_sent,
            alert_message,
            record_alert,
            reminders_state,
            verdict_without_the_sensor,
        )

        # No verdict: the sensor reached its limit with the run still unfinished, or the sensor
        # itself failed; the register says which before anyone is alarmed.
        verdict_name = context["ti"].xcom_pull(task_ids="wait_for_reminders")  # type: ignore[attr-defined]
        as_of = run_as_of(context)
        engine = register_engine()
        if verdict_name:
            found = Verdict[verdict_name]
        else:
            found = verdict_without_the_sensor(reminders_state(engine, as_of), PATIENCE)
        if not found.alarming:
            raise AirflowSkipException(f"No alert: {found.value}.")
        if alert_already_sent(engine, as_of):
            raise AirflowSkipException(f"No alert: one was sent for {as_of:%A %-d %B %Y} already.")
        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        with smtp_sender(SMTP_CONN_ID) as (send, sender):
            send(alert_message(as_of, manager, sender, found, base_url()))
        record_alert(engine, as_of, "reminders_watchdog DAG", manager)
        # No address in the log or the XCom: task logs carry no personal data.
        day = f"{as_of:%A %-d %B %Y}"
        return f"ALERT sent to the programme manager: reminders for {day}: {found.value}."

    wait_for_reminders() >> alert_programme_manager()


reminders_watchdog()
