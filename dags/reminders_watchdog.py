"""### Reminders watchdog (backstop)

At 09:00 on every working day, check that today's reminders went out (the `reminders` DAG
records a heartbeat in the register's audit trail when it has sent everything). If they have
not within ten more minutes, email the programme manager, so that a stuck scheduler, a full
disk or a mail outage never lets a statutory deadline pass silently.

This plays the part of an Airflow Deadline Alert on the `reminders` DAG, but checks the outcome
(reminders recorded as sent) rather than a run's state, and works in `dag.test()`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task
from statclock_airflow import DEFAULT_ARGS, SMTP_CONN_ID, TAGS, register_engine, run_as_of
from statclock_airflow.timetables import WorkingDayTimetable


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
    @task
    def check_reminders_went_out(**context: object) -> str:
        """Alert the programme manager if today's reminders have not been sent by now."""
        from statclock_airflow.mail import smtp_sender
        from statutory_clock.store.watchdog import alert_message, wait_for_reminders

        as_of = run_as_of(context)
        engine = register_engine()
        patience = float(os.environ.get("STATCLOCK_WATCHDOG_PATIENCE_SECONDS", "600"))
        if wait_for_reminders(engine, as_of, patience):
            return f"Reminders for {as_of.isoformat()} went out."
        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        with smtp_sender(SMTP_CONN_ID) as (send, sender):
            send(alert_message(as_of, manager, sender))
        return f"ALERT sent to {manager}: reminders for {as_of.isoformat()} have not gone out."

    check_reminders_went_out()


reminders_watchdog()
