"""The reminders watchdog, both ways, in real ``dag.test()`` runs: it alerts when the day's
reminders truly did not go out (no run started, a run failed for good, a run still unfinished
at its limit), stays silent while a run is still inside its retries and on a new
installation's first day, and after an alert the reminders run sends exactly one all-clear.

A real register (SQLite), a real SMTP server (devtools.mailcatcher) and Airflow's own
dag.test() in a subprocess (tests/dags/airflow_runner.py).
"""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import select

from devtools.mailcatcher import MailCatcher
from statutory_clock.store import db
from statutory_clock.store.models import AuditEvent
from statutory_clock.store.watchdog import record_heartbeat, record_started
from tests.dags.airflow_runner import run_dag_test
from tests.dags.conftest import PM, env_for
from tests.dags.test_dag_runs import MONDAY_4_DEC_2017

WATCHDOG_SLOT = "2017-12-04T09:00:00+00:00"  # Monday 4 December 2017, 09:00
MONDAY = date(2017, 12, 4)
FRIDAY = date(2017, 12, 1)


def mark(url: str, *, started: date | None = None, completed: date | None = None) -> None:
    """Leave the marks a reminders run leaves, as if it had run (or begun) on those days."""
    engine = db.make_engine(url)
    if started is not None:
        record_started(engine, started, "reminders DAG")
    if completed is not None:
        with db.transaction(engine) as session:
            record_heartbeat(session, completed, 0, "reminders DAG")
    engine.dispose()


def marks(url: str, day: date) -> list[str]:
    engine = db.make_engine(url)
    with db.transaction(engine) as session:
        found = list(
            session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.entity == f"reminders {day.isoformat()}")
                .order_by(AuditEvent.id)
            ).scalars()
        )
    engine.dispose()
    return found


def subjects(catcher: MailCatcher, word: str) -> list[str]:
    return [m["Subject"] for m in catcher.messages() if word in m["Subject"]]


def test_a_new_installation_is_not_alarmed_about_a_day_before_it_existed(
    demo_register, mail, tmp_path
):
    # The first start's catch-up slot: nothing in the register has ever sent reminders.
    env = env_for(demo_register, mail, STATCLOCK_WATCHDOG_PATIENCE_SECONDS="0")
    run = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    assert run.state == "success", run.tail()
    assert run.tasks == {"wait_for_reminders": "success", "alert_programme_manager": "skipped"}
    assert "not watched" in run.stdout + run.stderr
    assert mail.messages() == []


def test_missing_run_alerts_once_then_one_all_clear_follows(demo_register, mail, tmp_path):
    mark(demo_register, started=FRIDAY, completed=FRIDAY)  # reminders ran here last Friday
    env = env_for(demo_register, mail, STATCLOCK_WATCHDOG_PATIENCE_SECONDS="0")

    run = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    assert run.tasks == {"wait_for_reminders": "success", "alert_programme_manager": "success"}
    [alert] = subjects(mail, "ALERT")
    assert "Monday 4 December 2017" in alert and len(alert) < 80
    message = next(m for m in mail.messages() if "ALERT" in m["Subject"])
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "No reminders run started" in body

    # A re-run of the watchdog does not alarm twice.
    again = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    assert again.tasks["alert_programme_manager"] == "skipped", again.tail()
    assert len(subjects(mail, "ALERT")) == 1

    # The reminders go out late: one all-clear to the programme manager, and only one however
    # many times the reminders DAG runs again that day.
    for _ in range(2):
        late = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
        assert late.state == "success", late.tail()
    clear = [m for m in mail.messages() if m["Subject"].startswith("All clear")]
    assert len(clear) == 1, subjects(mail, "")
    assert clear[0]["To"] == PM and "Monday 4 December 2017" in clear[0]["Subject"]
    assert marks(demo_register, MONDAY).count("watchdog all-clear sent") == 1

    # And the watchdog, asked again, is satisfied.
    final = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    assert final.tasks["alert_programme_manager"] == "skipped"
    assert len(subjects(mail, "ALERT")) == 1


def test_a_run_that_failed_for_good_alerts_at_once(demo_register, mail, tmp_path):
    mark(demo_register, started=FRIDAY, completed=FRIDAY)
    # The mail server is unreachable for the reminders run (retries used up: none here).
    down = env_for(demo_register, mail)
    down["AIRFLOW_CONN_STATCLOCK_SMTP"] = down["AIRFLOW_CONN_STATCLOCK_SMTP"].replace(
        f'"port": {mail.port}', '"port": 9'
    )
    failed = run_dag_test("reminders", down, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert failed.tasks["send_reminders"] == "failed", failed.tail()
    assert marks(demo_register, MONDAY)[-1] == "reminders run failed"

    # Patience of an hour, but the run has failed for good: the alert goes at once.
    env = env_for(demo_register, mail, STATCLOCK_WATCHDOG_PATIENCE_SECONDS="3600")
    run = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    assert run.tasks["alert_programme_manager"] == "success", run.tail()
    [alert] = [m for m in mail.messages() if "ALERT" in m["Subject"]]
    assert "failed after all its retries" in alert.get_body(preferencelist=("plain",)).get_content()


def test_a_run_still_retrying_is_waited_for_not_reported(demo_register, mail, tmp_path):
    mark(demo_register, started=FRIDAY, completed=FRIDAY)
    mark(demo_register, started=MONDAY)  # today's run has begun and is between retries
    env = env_for(
        demo_register,
        mail,
        STATCLOCK_WATCHDOG_PATIENCE_SECONDS="0",
        STATCLOCK_WATCHDOG_POKE_SECONDS="1",
        STATCLOCK_WATCHDOG_LIMIT_SECONDS="600",
    )
    # The retry succeeds a few seconds into the watchdog's wait.
    finish = threading.Timer(8.0, mark, args=(demo_register,), kwargs={"completed": MONDAY})
    finish.start()
    try:
        run = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    finally:
        finish.join()
    assert run.state == "success", run.tail()
    assert run.tasks == {"wait_for_reminders": "success", "alert_programme_manager": "skipped"}
    assert "in progress" in run.stdout + run.stderr  # it did wait
    assert subjects(mail, "ALERT") == []


def test_a_run_unfinished_at_the_limit_alerts(demo_register, mail, tmp_path):
    mark(demo_register, started=FRIDAY, completed=FRIDAY)
    mark(demo_register, started=MONDAY)  # begun, never finished (a worker killed mid-run)
    env = env_for(
        demo_register,
        mail,
        STATCLOCK_WATCHDOG_PATIENCE_SECONDS="0",
        STATCLOCK_WATCHDOG_POKE_SECONDS="1",
        STATCLOCK_WATCHDOG_LIMIT_SECONDS="3",
    )
    run = run_dag_test("reminders_watchdog", env, logical_date=WATCHDOG_SLOT, home=tmp_path)
    assert run.tasks == {"wait_for_reminders": "failed", "alert_programme_manager": "success"}
    [alert] = [m for m in mail.messages() if "ALERT" in m["Subject"]]
    assert "has not finished" in alert.get_body(preferencelist=("plain",)).get_content()
