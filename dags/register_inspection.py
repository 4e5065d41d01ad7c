"""### Register an inspection

Enter a new Ofsted inspection into the case register: trigger this DAG from the Airflow UI
(**Trigger** shows a form) or through the REST API v2
(`POST /api/v2/dags/register_inspection/dagRuns` with these fields in `conf`).

**The form asks** (leave Airflow's own "Logical date" as it is), first, open when the form
opens, about the council and the report, then in three sections that open when clicked
(Judgements, Recommendations, DfE intervention):

- *The council*: its name, its three-digit DfE code, and optionally the programme manager's
  email and a case key (by default the authority and year, e.g. `croydon-2024`).
- *The inspection report*: the framework, the day it was published and, if known, the day the
  council received it (the legal anchor). Pick each date from the calendar or type it as the
  box shows (day, month, year in a British browser); through the REST API, send `YYYY-MM-DD`.
- *Judgements*: the overall judgement, and for ILACS each key judgement in a field of its own
  (help and protection, children in care, care leavers, leadership), on the ILACS scale.
  For ILACS reports published from 1 April 2026 there is no overall judgement: give the key
  judgements.
  "Not given" leaves a judgement out.
- *Recommendations* (optional): one per line; a timescale may lead, separated by " | ", e.g.
  `Within three months | Ensure that all children in need have an up-to-date plan`.
- *DfE intervention* (optional): a direction (by default appointing a commissioner and naming
  an independent chair: untick either when it does not) and/or an improvement notice
  (six-monthly DfE reviews; tick when it names an independent chair of the improvement
  board). The latest is in force.

**What happens.** The facts are validated exactly as a case file is (framework, judgement on
the framework's scale, real dates, publication inside the framework's period). A valid case is
written in one transaction with its full statutory clock and an audit trail under the Airflow
user who triggered the run, and the `statclock_register_cases` asset is updated so that the
`statutory_clock` DAG runs straight away. An earlier open case of the same authority is closed
in the same transaction, as superseded by this one (no more reminders or packs for it).

**A refusal** fails the run with one line naming the field and the value, e.g.
`Not registered: published: '2026-13-01' is not a date (YYYY-MM-DD)`; nothing is written and
the run is not retried. The run's note says what happened and names the council (a listener,
plugins/statclock_run_notes.py, writes it when the run ends). A case key already in the
register is refused too: the form never replaces a case (that would drop the facts recorded
since); give a new inspection a case key of its own.

API compatibility: `conf` may also carry `judgements` (area to grade, for areas without a
field of their own), validated as a case file's are.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import pendulum
from airflow.sdk import Param, dag, task

from statclock_airflow import DEFAULT_ARGS, TAGS, cases_asset, register_engine, run_actor, run_as_of
from statclock_airflow.timetables import OnRequest
from statutory_clock.inputs import (
    CASE_KEY_PATTERN,
    DFE_CODE_PATTERN,
    EMAIL_PATTERN,
    LONG_TEXT,
    MULTI_LINE_PATTERN,
    SINGLE_LINE_PATTERN,
)
from statutory_clock.rules import FRAMEWORKS as rulebook_frameworks
from statutory_clock.rules import framework_labels, judgement_labels, judgements, load_rulebooks

# The choices come from the rulebooks, never restated here. Reading them at parse time is
# cheap: load_rulebooks() hashes the bundled files and unpickles its validated cache (a few
# milliseconds, no database; benchmarks/bench_dags.py keeps the whole folder well under 1 s).
FRAMEWORKS = list(rulebook_frameworks)
NOT_GIVEN = "Not given"
# Airflow's form (3.3) shows a dropdown's empty choice by its values_display entry under the
# key "null" (else the word "null"); a grade missing from values_display would take the "None"
# entry's label, so every grade is listed.
JUDGEMENTS = [None, *judgements()]
GRADE_LABELS = {"null": NOT_GIVEN, **judgement_labels()}
# How the form's help text says a date is given: Airflow's form shows format "date" as the
# browser's own date box, which shows and takes the date in the browser's language (day, month,
# year in a British browser) and sends YYYY-MM-DD. Never "YYYY-MM-DD" here: that is not what the
# box shows.
DATE_HELP = "pick it from the calendar, or type it as the box shows"
# Every field the form shows is nullable in its schema: Airflow's form marks a field whose type
# has no "null" as required, and one whose default is empty (null) as "This field is required"
# before anyone has typed a thing (and the API returns an invalid default, e.g. "" under
# minLength 1, as null). The task refuses a missing required field with one plain line
# (statutory_clock.store.registration.check_form).
TEXT = ["null", "string"]
# The ILACS key judgements, one field each, from the rulebook's areas (area_<id>; the
# registration puts them in the case's judgements). ILACS is the only framework whose rulebook
# lists its areas: SIF and 2009 cases record their overall judgement (and other areas through
# the REST API's "judgements" mapping).
ILACS = load_rulebooks()["ilacs"]
ILACS_AREAS = {area.id: area.label for area in ILACS.areas.values() if area.id != "overall"}
# A key judgement is on the ILACS scale only ("Adequate" is the 2009 framework's grade).
ILACS_GRADES = [None, *ILACS.judgement_scale]
ILACS_GRADE_LABELS = {"null": NOT_GIVEN, **ILACS.judgement_labels}
KEY_JUDGEMENTS = {
    f"area_{area}": Param(
        None,
        type=TEXT,
        enum=ILACS_GRADES,
        values_display=ILACS_GRADE_LABELS,
        title=label,
        description="ILACS key judgement",
        section="Judgements",
    )
    for area, label in ILACS_AREAS.items()
}


def _date(title: str, description: str, section: str | None = None) -> Param:
    # No section: the field sits in Airflow's default section, open when the form opens.
    where = {"section": section} if section else {}
    return Param(None, type=TEXT, format="date", title=title, description=description, **where)


def _flag(default: bool, title: str, description: str) -> Param:
    return Param(
        default,
        type="boolean",
        title=title,
        description=description,
        section="DfE intervention",
    )


def _refuse(ti: object, params: dict[str, object], exc: Exception) -> NoReturn:
    """Fail the task with one plain line naming the field and the value, and leave it (with
    the council's name) for the run's note.

    A user's error, not the program's: no traceback. Airflow's task runner logs an
    AirflowFailException with log.exception (a dozen lines of traceback under the reason); a
    SystemExit is logged as one "Task exited" line and fails the task (retries are 0 above,
    so it is not retried)."""
    from statutory_clock.store.registration import NOTE_KEY, council_of, refusal

    line = refusal(exc, frozenset(ILACS_AREAS))
    logging.getLogger("statclock.register_inspection").error("%s", line)
    council = council_of(params)
    ti.xcom_push(key=NOTE_KEY, value=f"{line}\n\nCouncil: {council}" if council else line)  # type: ignore[attr-defined]
    raise SystemExit(1)


@dag(
    schedule=OnRequest(),
    start_date=pendulum.datetime(2009, 1, 1, tz="Europe/London"),  # catchup is off
    catchup=False,
    default_args={**DEFAULT_ARGS, "retries": 0},  # a refused registration needs a person
    tags=[*TAGS, "register"],
    doc_md=__doc__,
    params={
        "local_authority": Param(
            None,
            type=TEXT,
            minLength=1,
            maxLength=200,
            pattern=SINGLE_LINE_PATTERN,
            title="Local authority",
            description="The council's name, e.g. London Borough of Croydon",
        ),
        "dfe_code": Param(
            None,
            type=TEXT,
            pattern=DFE_CODE_PATTERN,
            title="DfE LA code",
            description="Three digits, e.g. 306",
        ),
        "programme_manager_email": Param(
            None,
            type=TEXT,
            maxLength=300,
            pattern=EMAIL_PATTERN,
            title="Programme manager's email",
            description="Optional: who gets the reminders, e.g. pm@croydon.gov.uk",
        ),
        "case_key": Param(
            None,
            type=TEXT,
            maxLength=100,
            pattern=CASE_KEY_PATTERN,
            title="Case key",
            description="Optional: by default the authority and year, e.g. croydon-2024",
        ),
        "framework": Param(
            "ilacs",
            type="string",
            enum=FRAMEWORKS,
            values_display=dict(framework_labels()),
            title="Framework",
        ),
        "published": _date(
            "Report published",
            f"The day Ofsted published the report: {DATE_HELP}",
        ),
        "received": _date(
            "Report received",
            f"Optional: the day the council received the report, if known (the legal anchor): "
            f"{DATE_HELP}",
        ),
        "overall_judgement": Param(
            None,
            type=TEXT,
            enum=JUDGEMENTS,
            values_display=GRADE_LABELS,
            title="Overall effectiveness",
            description="Not for ILACS reports published from 1 April 2026: give the key "
            "judgements below",
            section="Judgements",
        ),
        **KEY_JUDGEMENTS,
        "recommendations": Param(
            None,
            type=["null", "array"],
            maxItems=999,
            items={"type": "string", "maxLength": LONG_TEXT, "pattern": MULTI_LINE_PATTERN},
            title="Recommendations",
            description='Optional: one per line; a timescale may lead, separated by " | ", '
            "e.g. Within three months | Review every child in need plan",
            section="Recommendations",
        ),
        "direction": _date(
            "DfE direction",
            f"Optional: the day of the statutory direction, if any: {DATE_HELP}",
            "DfE intervention",
        ),
        "direction_commissioner": _flag(
            True,
            "The direction appoints a commissioner",
            "Adds the commissioner's report (three months after the direction)",
        ),
        "direction_independent_chair": _flag(
            True,
            "The direction names an independent chair",
            "Adds the independent chair's quarterly reports",
        ),
        "improvement_notice": _date(
            "DfE improvement notice",
            f"Optional: the day of the improvement notice, if any (six-monthly DfE reviews): "
            f"{DATE_HELP}",
            "DfE intervention",
        ),
        "improvement_notice_independent_chair": _flag(
            False,
            "The improvement notice names an independent chair",
            "Adds the independent chair's quarterly reports",
        ),
    },
)
def register_inspection() -> None:
    @task(outlets=[cases_asset()])
    def register_case(params: dict[str, object], **context: object) -> str:
        """Validate the form (or API conf) and write the case in one transaction."""
        from sqlalchemy.exc import DataError, IntegrityError

        from statutory_clock.store.casefile import CaseFileError, parse_case_data
        from statutory_clock.store.db import transaction
        from statutory_clock.store.register import RegisterError, import_case, superseded_by
        from statutory_clock.store.registration import NOTE_KEY, case_document, check_form

        ti = context["ti"]
        try:
            check_form(params)
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
        except (DataError, IntegrityError) as exc:  # refused by the database: nothing written
            first = str(exc.orig or exc).strip().split("\n", 1)[0]
            _refuse(ti, params, ValueError(f"the database refused it ({first})"))
        except (CaseFileError, RegisterError, ValueError) as exc:
            _refuse(ti, params, exc)
        logging.getLogger("statclock.register_inspection").info("%s", summary)
        ti.xcom_push(key=NOTE_KEY, value=summary)  # type: ignore[attr-defined]
        return doc.case_key

    register_case()


register_inspection()
