"""### Improvement board packs

Every working day at 06:30 (Europe/London), make the packs that are due: for each council with
an improvement board, a pack ready five working days before its next board meeting (from the
meeting dates in the register) or, with no dates on file, monthly on the fifth working day
covering the previous month. Each pack is assembled from the case register, rendered to HTML and
PDF, archived under `var/packs/` and in the register with its SHA-256 and version (a re-run
makes a new version, never overwrites), and emailed with the PDF attached to the board's
distribution list through the same exactly-once ledger as the reminders.

**Ad-hoc pack**: trigger with `case_key` (and optionally the period and meeting date) to make a
pack for one council now.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task

from statclock_airflow import DEFAULT_ARGS, SMTP_CONN_ID, TAGS, register_engine, run_as_of
from statclock_airflow.timetables import WorkingDayTimetable

DATE_OR_EMPTY = ["null", "string"]


def packs_directory() -> Path:
    return Path(os.environ.get("STATCLOCK_PACKS_DIR", "var/packs")).resolve()


@dag(
    schedule=WorkingDayTimetable(at="06:30"),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "board pack"],
    doc_md=__doc__,
    params={
        "case_key": Param(
            None,
            type=["null", "string"],
            title="Case (ad-hoc pack)",
            description="leave empty for the scheduled packs that are due",
        ),
        "period_start": Param(None, type=DATE_OR_EMPTY, format="date", title="Period from"),
        "period_end": Param(None, type=DATE_OR_EMPTY, format="date", title="Period to"),
        "meeting_date": Param(None, type=DATE_OR_EMPTY, format="date", title="Meeting date"),
    },
)
def board_pack() -> None:
    @task
    def plan_packs(params: dict[str, object], **context: object) -> list[dict[str, object]]:
        """The packs due today, or the one ad-hoc pack asked for."""
        from statutory_clock.board_pack.assemble import ad_hoc_job, due_packs
        from statutory_clock.store.db import transaction

        as_of = run_as_of(context)
        with transaction(register_engine()) as session:
            if params.get("case_key"):
                jobs = [ad_hoc_job(session, params, as_of)]
            else:
                jobs = due_packs(session, as_of)
        print(f"{len(jobs)} pack(s) to make as of {as_of:%A %-d %B %Y}")
        return [job.as_dict() for job in jobs]

    @task(max_active_tis_per_dagrun=2)
    def make_pack(job: dict[str, object], **context: object) -> dict[str, object]:
        """Assemble, render, archive and queue one council's pack."""
        from statutory_clock.board_pack.assemble import PackJob
        from statutory_clock.board_pack.assemble import make_pack as make

        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        made = make(
            register_engine(),
            PackJob.from_dict(job),
            run_as_of(context),
            packs_directory(),
            "board_pack DAG",
            manager,
        )
        print(
            f"Archived {made['case_key']} {made['period_label']} v{made['version']}: "
            f"{made['pdf']} (sha256 {made['sha256']})"
        )
        return made

    @task(trigger_rule="all_done")
    def send_packs() -> int:
        """Email every archived pack still pending, exactly once per recipient; a pack email
        that fails is marked failed, the programme manager is told, and the task fails."""
        from statclock_airflow.mail import smtp_sender
        from statutory_clock.board_pack.assemble import compose_pack_email
        from statutory_clock.store.delivery import run_sends
        from statutory_clock.store.outbox import PACK_PREFIX

        manager = os.environ.get("STATCLOCK_PROGRAMME_MANAGER", "programme.manager@localhost")
        with smtp_sender(SMTP_CONN_ID) as (send, sender):
            report = run_sends(
                register_engine(),
                send,
                sender,
                manager,
                "board_pack DAG",
                item_prefix=PACK_PREFIX,
                compose_pack=compose_pack_email,
            )
        print(f"{report.sent} pack email(s) sent")
        return report.sent

    make_pack.expand(job=plan_packs()) >> send_packs()


board_pack()
