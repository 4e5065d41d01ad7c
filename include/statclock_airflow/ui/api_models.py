"""The JSON API's documented shapes, for FastAPI's OpenAPI schema.

The API returns exactly what ``statclock case list --format json`` and ``statclock case show
KEY --format json`` print (``read_model.portfolio_json`` and ``read_model.case_json``); these
models describe that JSON, field for field, and forbid any other field, so a test validating the
command line's output against them fails the moment the two drift apart. Dates are ISO text
(``YYYY-MM-DD``), instants ISO 8601 with their offset.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from statutory_clock.rules import Party
from statutory_clock.vocabulary import CloseReason, MilestoneState

CaseState = Literal["open", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NextDeadline(_Strict):
    """The next council milestone not done and not yet past."""

    id: str = Field(description="The milestone's id, e.g. written_statement_of_action")
    title: str
    due: str = Field(description="Effective due date (after any agreed extension), YYYY-MM-DD")
    working_days_left: int = Field(
        description="Working days after the day asked up to and including the due date"
    )
    act_by: str = Field(
        description="The last working day on or before the due date (the due date itself "
        "when that is a working day), YYYY-MM-DD"
    )


class StatusCounts(_Strict):
    """How many milestones stand at each status."""

    overdue: int
    due: int
    not_recorded: int = Field(
        description="An Ofsted or DfE act past its date with no date recorded (never overdue)"
    )
    upcoming: int
    met: int
    missed: int
    waived: int
    closed: int


class RagCounts(_Strict):
    """Action plan items by RAG rating."""

    red: int
    amber: int
    green: int
    complete: int
    not_rated: int


class PackSummary(_Strict):
    period: str = Field(description="The board pack's period, YYYY-MM")
    version: int
    made_on: str = Field(description="The day it was archived (London), YYYY-MM-DD")
    meeting: str | None = Field(description="The board meeting it is for, YYYY-MM-DD")
    sha256: str


class PortfolioRow(_Strict):
    """One case of the portfolio, as a row of ``statclock case list --format json``."""

    key: str
    authority: str
    dfe_code: str
    framework: str
    published: str = Field(description="YYYY-MM-DD")
    judgement: str | None = Field(description="The overall judgement, or the worst area grade")
    state: CaseState
    closed_reason: CloseReason | None
    closed_on: str | None
    superseded_by: str | None
    next_deadline: NextDeadline | None
    counts: StatusCounts
    rag: RagCounts
    last_reminder_sent: str | None = Field(description="YYYY-MM-DD (London)")
    last_pack: PackSummary | None


class Lifecycle(_Strict):
    """Why, when and by whom a closed case closed."""

    reason: CloseReason
    closed_on: str
    by: str | None
    note: str | None
    superseded_by: str | None
    state: Literal["closed"]


class Milestone(_Strict):
    """One milestone of a case's statutory timeline."""

    id: str
    title: str
    due: str = Field(description="The forecast due date as the rules compute it, YYYY-MM-DD")
    effective_due: str = Field(description="The due date after any agreed extension")
    act_by: str = Field(
        description="The last working day on or before effective_due: the day to act by when "
        "the due date is a weekend or a bank holiday"
    )
    window_start: str | None
    actual: str | None = Field(description="When it happened, if recorded")
    extended_to: str | None
    waived: bool
    status: MilestoneState
    status_as_of: str
    party: Party = Field(description="Whose act it is")
    rule: str
    source: str = Field(description="The citation: the statute or guidance setting the date")
    basis: str = Field(description="How the date was computed, in one line")
    owner: str | None
    due_version: int = Field(description="Bumped each time the due date moves")


class Case(_Strict):
    """A case and its clock, as ``statclock case show KEY --format json``."""

    key: str
    version: int = Field(description="Bumped on every change; send it back to write")
    authority: str
    dfe_code: str
    framework: str
    published: str
    state: CaseState
    lifecycle: Lifecycle | None
    as_of: str = Field(description="The day the statuses are computed for, YYYY-MM-DD")
    next_deadline: NextDeadline | None
    counts: StatusCounts
    milestones: list[Milestone]
    warnings: list[str] = Field(
        description="Unusual but possible facts of the case, one line each (e.g. a publication "
        "on a bank holiday): check them against the report"
    )


class Health(_Strict):
    """The health check's answer."""

    status: str = Field(description="ok, or unavailable")
    # ``register`` is also a method every model class has (ABCMeta's), hence the alias.
    register_state: str = Field(alias="register", description="ok, or unreachable")


class Migrations(_Strict):
    """The register's schema against the code's."""

    database: str | None = Field(description="The register's revision (alembic_version)")
    head: str = Field(description="The newest revision this code has")
    at_head: bool


class ClockRun(_Strict):
    """The last successful run of the statutory_clock DAG (Airflow's record of it)."""

    run_id: str
    finished_at: str = Field(description="ISO 8601 instant, UTC")


class RemindersRun(_Strict):
    """The last day whose reminders all went out: the reminders DAG's ``reminders run
    completed`` mark in the register's audit trail (what the watchdog looks for)."""

    day: str = Field(description="The working day the run was for, YYYY-MM-DD")
    completed_at: str = Field(description="ISO 8601 instant, UTC")
    sent: int | None = Field(description="Reminders the run sent")


class Readiness(_Strict):
    """The authenticated health check's answer."""

    status: Literal["ok", "unhealthy"]
    register_state: Literal["ok", "unreachable"] = Field(alias="register")
    migrations: Migrations | None = Field(description="null when the register is unreachable")
    clock: ClockRun | None = Field(description="null if none has succeeded yet")
    reminders: RemindersRun | None = Field(description="null if none has completed yet")
    problems: list[str] = Field(description="Why the status is unhealthy, one line each")


class Problem(BaseModel):
    """An error response, as FastAPI gives it."""

    detail: str
