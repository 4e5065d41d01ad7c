"""The FastAPI app the ``statclock_ui`` plugin mounts at ``/statclock``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from statclock_airflow.ui import api, feeds, pages, writes
from statutory_clock.addresses import PAGES_PREFIX

URL_PREFIX = PAGES_PREFIX
STATIC = Path(__file__).parent / "static"


def create_app() -> FastAPI:
    app = FastAPI(
        title="statclock",
        description=(
            "The statutory clock of each council's Ofsted improvement programme: the "
            "programme manager's pages, a read-only JSON API and iCalendar feeds."
        ),
    )
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    for module in (pages, writes, api, feeds):
        app.include_router(module.router)
    return app
