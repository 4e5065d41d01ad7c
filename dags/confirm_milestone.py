"""### Confirm a fact (human in the loop)

Some facts need a person to confirm them before the clock relies on them: that the written
statement of action was signed off and submitted, or the actual date of an Ofsted visit.
Trigger this DAG with the case, the milestone and the proposed date; the
`ask_for_confirmation` task then waits in **Required actions** in the Airflow UI for the
programme manager to confirm (and correct the date if need be) or reject. A confirmation is
recorded in the case register as an event, which recomputes the clock and audits every date
that moves, naming the person who confirmed it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, task

from statclock_airflow import DEFAULT_ARGS, TAGS, cases_asset, register_engine, run_as_of
from statclock_airflow.timetables import OnRequest

CONFIRM, REJECT = "Confirm", "Reject"


@dag(
    schedule=OnRequest(),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    default_args={**DEFAULT_ARGS, "retries": 0},
    tags=[*TAGS, "human"],
    doc_md=__doc__,
    params={
        "case_key": Param(
            "",
            type="string",
            minLength=1,
            title="Case",
            description="e.g. croydon-2017 (see `statclock case list`)",
        ),
        "milestone": Param(
            "written_statement_of_action",
            type="string",
            minLength=1,
            title="Milestone",
            description="e.g. first_monitoring_visit",
        ),
        "proposed_date": Param(
            "",
            type="string",
            format="date",
            title="Proposed date",
            description="YYYY-MM-DD: the date to be confirmed",
        ),
    },
)
def confirm_milestone() -> None:
    ask_for_confirmation = HITLOperator(
        task_id="ask_for_confirmation",
        subject="Confirm {{ params.milestone }} for {{ params.case_key }}",
        body=(
            "Please confirm that **{{ params.milestone }}** for case **{{ params.case_key }}** "
            "happened on **{{ params.proposed_date }}**. Correct the date below if it is wrong. "
            "Once confirmed, the statutory clock is recomputed from this date."
        ),
        options=[CONFIRM, REJECT],
        params={
            "actual_date": Param(
                None,
                type=["null", "string"],
                format="date",
                title="Actual date (leave empty to keep the proposed date)",
            ),
            "note": Param(None, type=["null", "string"], title="Note for the audit trail"),
        },
        response_timeout=timedelta(days=10),
    )

    @task(outlets=[cases_asset()])
    def record_confirmed_fact(
        answer: dict[str, object], params: dict[str, object], **context: object
    ) -> str:
        """Record the confirmed date as an event in the case register (one transaction)."""
        from statutory_clock.store.confirmation import record_confirmation

        return record_confirmation(register_engine(), answer, params, run_as_of(context))

    record_confirmed_fact(ask_for_confirmation.output)


confirm_milestone()
