"""### Register an inspection

Enter a new Ofsted inspection into the case register: trigger this DAG from the Airflow UI
(**Trigger** shows a form) or through the REST API v2
(`POST /api/v2/dags/register_inspection/dagRuns` with these fields in `conf`).

The facts are validated exactly as a case file is (framework, judgement on the framework's
scale, real dates, publication inside the framework's period); a refusal names the field and the
value and is not retried. A valid case is written in one transaction with its full statutory
clock and an audit trail, and the `statclock_register_cases` asset is updated so that the
`statutory_clock` DAG runs straight away. An earlier open case of the same authority is closed
in the same transaction, as superseded by this one (no more reminders or packs for it).

Judgements: for ILACS reports published from 1 April 2026 there is no overall judgement: give
the key judgements (help and protection, children in care, care leavers, leadership) instead.

DfE intervention: a direction (by default appointing a commissioner and naming an independent
chair: untick either when it does not) and/or an improvement notice (six-monthly DfE reviews;
tick when it names an independent chair of the improvement board). The latest is in force.

Recommendations: one per entry; a timescale may lead, separated by " | ", e.g.
`Within three months | Ensure that all children in need have an up-to-date plan`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from statclock_airflow import DEFAULT_ARGS, TAGS, cases_asset, register_engine, run_actor, run_as_of
from statclock_airflow.timetables import OnRequest
from statutory_clock.inputs import (
    AREA_PATTERN,
    CASE_KEY_PATTERN,
    DFE_CODE_PATTERN,
    EMAIL_PATTERN,
    FIRST_DAY,
    LAST_DAY,
    LONG_TEXT,
    MULTI_LINE_PATTERN,
    SINGLE_LINE_PATTERN,
)
from statutory_clock.rules import FRAMEWORKS as rulebook_frameworks
from statutory_clock.rules import judgements, load_rulebooks

# The choices come from the rulebooks, never restated here. Reading them at parse time is
# cheap: load_rulebooks() hashes the bundled files and unpickles its validated cache (a few
# milliseconds, no database; benchmarks/bench_dags.py keeps the whole folder well under 1 s).
FRAMEWORKS = list(rulebook_frameworks)
JUDGEMENTS = [None, *judgements()]
DATE_OR_EMPTY = ["null", "string"]
# The form refuses what the register would refuse, as it is filled in: one-line names without
# control or format characters, lengths that fit the columns. The task validates everything
# again (parse_case_data), because the REST API's conf need not come through the form.
DATES = f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
# The key judgements, one field each, from the ILACS rulebook's areas (area_<id>; the
# registration puts them in the case's judgements). Other frameworks' areas: "judgements".
KEY_JUDGEMENTS = {
    f"area_{area.id}": Param(
        None,
        type=["null", "string"],
        enum=JUDGEMENTS,
        title=area.label,
        description="ILACS key judgement",
    )
    for area in load_rulebooks()["ilacs"].areas.values()
    if area.id != "overall"
}


@dag(
    schedule=OnRequest(),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    default_args={**DEFAULT_ARGS, "retries": 0},  # a refused registration needs a person
    tags=[*TAGS, "register"],
    doc_md=__doc__,
    params={
        "local_authority": Param(
            "",
            type="string",
            minLength=1,
            maxLength=200,
            pattern=SINGLE_LINE_PATTERN,
            title="Local authority",
            description="e.g. London Borough of Croydon",
        ),
        "dfe_code": Param(
            "",
            type="string",
            pattern=DFE_CODE_PATTERN,
            title="DfE LA code",
            description="three digits, e.g. 306",
        ),
        "framework": Param("ilacs", type="string", enum=FRAMEWORKS, title="Framework"),
        "published": Param(
            "",
            type="string",
            format="date",
            title="Report published",
            description=f"YYYY-MM-DD, {DATES}",
        ),
        "received": Param(
            None,
            type=DATE_OR_EMPTY,
            format="date",
            title="Report received",
            description="YYYY-MM-DD, if known: the legal anchor",
        ),
        "overall_judgement": Param(
            None,
            type=["null", "string"],
            enum=JUDGEMENTS,
            title="Overall judgement",
            description="not for ILACS reports published from 1 April 2026: give the key "
            "judgements below",
        ),
        **KEY_JUDGEMENTS,
        "judgements": Param(
            {},
            type="object",
            maxProperties=20,
            propertyNames={"pattern": AREA_PATTERN},
            additionalProperties={"type": "string", "maxLength": 30, "pattern": AREA_PATTERN},
            title="Other judgements",
            description='area -> grade, e.g. {"leadership": "inadequate"}',
        ),
        "direction": Param(
            None,
            type=DATE_OR_EMPTY,
            format="date",
            title="DfE direction",
            description="YYYY-MM-DD of the statutory direction, if any",
        ),
        "direction_commissioner": Param(
            True,
            type="boolean",
            title="The direction appoints a commissioner",
            description="adds the commissioner's report (three months after the direction)",
        ),
        "direction_independent_chair": Param(
            True,
            type="boolean",
            title="The direction names an independent chair",
            description="adds the independent chair's quarterly reports",
        ),
        "improvement_notice": Param(
            None,
            type=DATE_OR_EMPTY,
            format="date",
            title="DfE improvement notice",
            description="YYYY-MM-DD of the improvement notice, if any (six-monthly DfE reviews)",
        ),
        "improvement_notice_independent_chair": Param(
            False,
            type="boolean",
            title="The improvement notice names an independent chair",
            description="adds the independent chair's quarterly reports",
        ),
        "recommendations": Param(
            [],
            type="array",
            maxItems=999,
            items={"type": "string", "maxLength": LONG_TEXT, "pattern": MULTI_LINE_PATTERN},
            title="Recommendations",
            description="one per line",
        ),
        "programme_manager_email": Param(
            None,
            type=["null", "string"],
            maxLength=300,
            pattern=EMAIL_PATTERN,
            title="Programme manager's email",
        ),
        "case_key": Param(
            None,
            type=["null", "string"],
            maxLength=100,
            pattern=CASE_KEY_PATTERN,
            title="Case key (optional)",
            description="default: authority and year, e.g. croydon-2024",
        ),
    },
)
def register_inspection() -> None:
    @task(outlets=[cases_asset()])
    def register_case(params: dict[str, object], **context: object) -> str:
        """Validate the form (or API conf) and write the case in one transaction."""
        from airflow.sdk.exceptions import AirflowFailException
        from sqlalchemy.exc import DataError, IntegrityError

        from statutory_clock.store.casefile import CaseFileError, parse_case_data
        from statutory_clock.store.db import transaction
        from statutory_clock.store.register import RegisterError, import_case, superseded_by
        from statutory_clock.store.registration import case_document

        try:
            doc = parse_case_data(case_document(params), "register_inspection")
            with transaction(register_engine()) as session:
                case = import_case(
                    session,
                    doc,
                    run_actor(context, "register_inspection DAG"),
                    run_as_of(context),
                )
                summary = (
                    f"Registered {case.key}: {case.local_authority.name}, "
                    f"{len(case.milestones)} milestones"
                )
                closed = superseded_by(session, case.key)
                if closed:  # closed in this same transaction
                    summary += f"; closed as superseded: {', '.join(closed)}"
        except (CaseFileError, RegisterError, ValueError) as exc:
            raise AirflowFailException(f"Not registered: {exc}") from None
        except (DataError, IntegrityError) as exc:  # refused by the database: nothing written
            first = str(exc.orig or exc).strip().split("\n", 1)[0]
            raise AirflowFailException(
                f"Not registered: the database refused it ({first})"
            ) from None
        print(summary)
        return doc.case_key

    register_case()


register_inspection()
