"""### Reminders

Every working day at 07:30 (Europe/London): decide which reminders are due today under the
lead-time policy (`include/statutory_clock/rules/reminders.yaml`: by default 20, 10, 5 and 1
working days before, on the day, then 1 and 5 working days overdue, escalating), and email each
one **exactly once** through the `statclock_smtp` connection: HTML and plain text, the legal
basis and citation, and an .ics calendar entry.

`decide_reminders` writes one ledger row per reminder in the same transaction as the decision;
`send_reminders` sends each pending row and marks it sent. A retried or re-run task never sends
a duplicate; if the mail server is down the task fails and retries, and nothing is lost. A
missed day is caught up with the single most relevant reminder, not a burst.

A message that cannot be built from the register's data, or that the mail server refuses, is
marked failed on its own ledger row and every other reminder still goes out; the programme
manager is emailed once about each such failure, the task then fails (red) naming them, and
the next run tries them again (see `docs/mail-delivery.md`).

The run leaves marks for the `reminders_watchdog` DAG (started, completed, failed for good); if
the watchdog raised the alarm for the day, `send_reminders` emails the programme manager one
all-clear once the reminders have gone out.

`post_notices` (optional, off by default): with a `statclock_slack` and/or `statclock_teams`
connection, each overdue and changed deadline of the day is also posted to that channel,
exactly once through the same ledger (see `docs/notices.md`). Without one it does nothing.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from statclock_airflow import DEFAULT_ARGS, SMTP_CONN_ID, TAGS, register_engine, run_as_of
from statclock_airflow.timetables import WorkingDayTimetable

ACTOR = "reminders DAG"


def record_final_failure(context: dict[str, object]) -> None:
    """A task failed with no retries left: tell the watchdog not to wait for this run."""
    from statutory_clock.store.watchdog import record_failure

    task_id = getattr(context["ti"], "task_id", "a task")
    record_failure(
        register_engine(), run_as_of(context), ACTOR, f"{task_id}: {context.get('exception')}"
    )


@dag(
    schedule=WorkingDayTimetable(at="07:30"),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "reminders"],
    doc_md=__doc__,
)
def reminders() -> None:
    # The email tasks tell the watchdog when they fail for good; post_notices does not: a chat
    # channel down is not reminders failing to go out.
    @task(on_failure_callback=record_final_failure)
    def decide_reminders(**context: object) -> int:
        """Record today's reminders as pending ledger rows (idempotent: the ledger is the key)."""
        from statclock_airflow.webhooks import configured_channels
        from statutory_clock.reminders import load_policy
        from statutory_clock.store.db import transaction
        from statutory_clock.store.notices import plan_notices
        from statutory_clock.store.outbox import plan_reminders
        from statutory_clock.store.watchdog import record_started

        as_of = run_as_of(context)
        engine = register_engine()
        record_started(engine, as_of, ACTOR)
        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        channels = configured_channels()  # Slack/Teams connections: none by default
        with transaction(engine) as session:
            created = plan_reminders(session, as_of, load_policy(), manager)
            notices = plan_notices(session, as_of, channels, load_policy())
        print(f"{len(created)} reminder(s) decided for {as_of:%A %-d %B %Y}")
        if channels:
            print(f"{len(notices)} chat notice(s) decided")
        return len(created)

    @task(on_failure_callback=record_final_failure)
    def send_reminders(**context: object) -> int:
        """Send every pending reminder; each is marked sent (or failed) in its own transaction."""
        from statclock_airflow.mail import smtp_sender
        from statutory_clock.board_pack.assemble import compose_pack_email
        from statutory_clock.store.delivery import run_sends
        from statutory_clock.store.watchdog import send_all_clear_if_due

        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        as_of, engine = run_as_of(context), register_engine()
        with smtp_sender(SMTP_CONN_ID) as (send, sender):
            try:
                report = run_sends(
                    engine,
                    send,
                    sender,
                    manager,
                    ACTOR,
                    heartbeat_for=as_of,  # the watchdog looks for this heartbeat
                    # A pack email left pending by the board_pack run goes out with the reminders.
                    compose_pack=compose_pack_email,
                )
            finally:
                # After a watchdog alert, one all-clear once the heartbeat is recorded (even
                # when some rows failed: they have their own notice).
                if send_all_clear_if_due(engine, as_of, send, sender, manager, ACTOR):
                    # No address in the log: task logs carry no personal data.
                    print(f"All-clear sent to the programme manager for {as_of:%A %-d %B %Y}")
        print(f"{report.sent} reminder(s) sent, {report.skipped} skipped")
        return report.sent

    @task
    def post_notices() -> int | None:
        """Post the overdue and changed-deadline notices to Slack/Teams, if connections exist."""
        from statclock_airflow.webhooks import post_notices as post

        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        return post(register_engine(), manager, ACTOR)

    # Beside the emails, not after them: a failed email send must neither hold the channels'
    # notices back nor be hidden by a notices task that succeeds after it.
    decided = decide_reminders()
    decided >> send_reminders()
    decided >> post_notices()


reminders()
