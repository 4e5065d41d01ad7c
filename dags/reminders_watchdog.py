"""### Reminders watchdog (backstop)

At 09:00 on every working day, check that today's reminders went out (the `reminders` DAG
records a heartbeat in the register's audit trail when it has sent everything). The
`wait_for_reminders` sensor looks every minute for ten minutes without holding a worker slot;
if the heartbeat is still missing, `alert_programme_manager` emails the programme manager, so
that a stuck scheduler, a full disk or a mail outage never lets a statutory deadline pass
silently. The run then shows as failed in the UI, which is the truth: reminders did not go out.

This plays the part of an Airflow Deadline Alert on the `reminders` DAG, but checks the outcome
(reminders recorded as sent) rather than a run's state, and works in `dag.test()`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import PokeReturnValue, TriggerRule, dag, task

from statclock_airflow import DEFAULT_ARGS, SMTP_CONN_ID, TAGS, register_engine, run_as_of
from statclock_airflow.timetables import WorkingDayTimetable

# How long after 09:00 the reminders may still finish before the alarm (seconds).
PATIENCE = float(os.environ.get("STATCLOCK_WATCHDOG_PATIENCE_SECONDS", "600"))


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
    @task.sensor(poke_interval=60, timeout=PATIENCE, mode="reschedule", retries=0)
    def wait_for_reminders(**context: object) -> PokeReturnValue:
        """Done as soon as today's reminders heartbeat is in the register."""
        from statutory_clock.store.watchdog import reminders_completed

        as_of = run_as_of(context)
        return PokeReturnValue(
            is_done=reminders_completed(register_engine(), as_of), xcom_value=as_of.isoformat()
        )

    @task(trigger_rule=TriggerRule.ONE_FAILED)
    def alert_programme_manager(**context: object) -> str:
        """Runs only if the sensor gave up: tell the programme manager at once."""
        from statclock_airflow.mail import smtp_sender
        from statutory_clock.store.watchdog import alert_message

        as_of = run_as_of(context)
        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        with smtp_sender(SMTP_CONN_ID) as (send, sender):
            send(alert_message(as_of, manager, sender))
        return f"ALERT sent to {manager}: reminders for {as_of.isoformat()} have not gone out."

    wait_for_reminders() >> alert_programme_manager()


reminders_watchdog()
