"""Statutory clock engine for Ofsted inspections of local authority children's services.

Pure Python: this package never imports Airflow, so the same code runs from the ``statclock``
command, from tests and from the thin DAGs in ``dags/``. The names below are loaded on first
use, so that importing a submodule (as DAG files do while Airflow parses them) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "CaseFacts",
    "Clock",
    "ClockBuilder",
    "FactsError",
    "Milestone",
    "Recommendation",
    "compute_clock",
    "milestone_status",
]

if TYPE_CHECKING:
    from statutory_clock.engine import (
        CaseFacts,
        Clock,
        ClockBuilder,
        FactsError,
        Milestone,
        Recommendation,
        compute_clock,
        milestone_status,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from statutory_clock import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'statutory_clock' has no attribute {name!r}")
