"""The read-only JSON API and the health check.

``GET /api/portfolio`` and ``GET /api/councils/{key}`` answer exactly what ``statclock case list
--format json`` and ``statclock case show KEY --format json`` print (the same functions of the
read model build both), for any authenticated Airflow user allowed the plugins view.
``GET /health`` needs no login and says only whether the register answers (a liveness probe);
``GET /api/health`` (any reader) says whether the product can work: the register reachable and
at the migrations' head, and the last successful clock and reminders runs (503 if unhealthy).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from statclock_airflow.ui import context
from statclock_airflow.ui.api_models import (
    Case,
    ClockRun,
    Health,
    Migrations,
    PortfolioRow,
    Problem,
    Readiness,
    RemindersRun,
)
from statclock_airflow.ui.readiness import readiness
from statclock_airflow.ui.security import ReaderDep
from statutory_clock.inputs import InputError, case_key
from statutory_clock.store.read_model import case_json, case_view, portfolio, portfolio_json
from statutory_clock.store.register import RegisterError

log = logging.getLogger(__name__)
router = APIRouter()
SessionDep = Annotated[Session, Depends(context.register_session)]

_AUTH: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"model": Problem, "description": "No valid Airflow token"},
    status.HTTP_403_FORBIDDEN: {"model": Problem, "description": "Not allowed the plugins view"},
}


@router.get(
    "/api/portfolio",
    summary="Every open council's clock (the portfolio)",
    description=(
        "One row per case, as `statclock case list --format json` prints it: authority, "
        "framework, judgement, next council deadline with working days left, milestone counts "
        "by status, action RAG counts, last reminder and last board pack, as of today in "
        "London. Open cases only unless `all=true`. Authenticate with Airflow's token "
        "(`Authorization: Bearer ...` or the `_token` cookie)."
    ),
    response_model=list[PortfolioRow],
    response_class=JSONResponse,
    responses=_AUTH,
)
def api_portfolio(
    _user: ReaderDep,
    session: SessionDep,
    include_closed: Annotated[
        bool, Query(alias="all", description="Closed cases too (as `--all`)")
    ] = False,
) -> JSONResponse:
    rows = portfolio(session, context.today(), include_closed=include_closed)
    return JSONResponse(portfolio_json(rows))


@router.get(
    "/api/councils/{key}",
    summary="One council's case and statutory timeline",
    description=(
        "The case as `statclock case show KEY --format json` prints it: version, state, "
        "counts, next deadline and every milestone with forecast and effective due dates, "
        "window, actual date, status, whose act it is, citation and basis, as of today in "
        "London. 404 for a key not in the register."
    ),
    response_model=Case,
    response_class=JSONResponse,
    responses={
        **_AUTH,
        status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No such case"},
    },
)
def api_council(key: str, _user: ReaderDep, session: SessionDep) -> JSONResponse:
    try:
        case_key("case", key)
        view = case_view(session, key, context.today())
    except (InputError, RegisterError) as exc:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)
    return JSONResponse(case_json(view))


@router.get(
    "/health",
    summary="Whether the page can reach the case register",
    description=(
        'No login. `{"status": "ok", "register": "ok"}` when the register answers a query; '
        "503 when it cannot be reached (the reason is in the server's log, never here)."
    ),
    response_model=Health,
    response_class=JSONResponse,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Health}},
)
def health() -> JSONResponse:
    try:
        with context.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach it is "unavailable", with no detail
        log.warning("Health check: the case register cannot be reached (%s)", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "register": "unreachable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ok", "register": "ok"})


@router.get(
    "/api/health",
    summary="Whether the product can do its work",
    description=(
        "For any reader (Viewer and up). `status` is `ok` (200) when the case register answers "
        "and its schema is at the migrations' head, else `unhealthy` (503) with the reasons in "
        "`problems`. Also the last successful `statutory_clock` run (from Airflow's records) "
        "and the last day whose reminders all went out (the reminders DAG's mark in the "
        "register), for a monitor to judge their age."
    ),
    response_model=Readiness,
    response_class=JSONResponse,
    responses={**_AUTH, status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Readiness}},
)
def api_health(_user: ReaderDep) -> JSONResponse:
    found = readiness(context.engine())
    clock = found.clock
    reminders = found.reminders
    answer = Readiness(
        status="ok" if found.healthy else "unhealthy",
        register="ok" if found.reachable else "unreachable",
        migrations=Migrations(
            database=found.database_revision,
            head=found.head,
            at_head=found.database_revision == found.head,
        )
        if found.reachable
        else None,
        clock=ClockRun(run_id=clock.run_id, finished_at=clock.finished_at.isoformat())
        if clock
        else None,
        reminders=RemindersRun(
            day=reminders.day, completed_at=reminders.completed_at.isoformat(), sent=reminders.sent
        )
        if reminders
        else None,
        problems=found.problems,
    )
    code = status.HTTP_200_OK if found.healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(answer.model_dump(by_alias=True), status_code=code)
