"""Statutory clock engine for Ofsted inspections of local authority children's services.

Pure Python: this package never imports Airflow, so the same code runs from the ``statclock``
command, from tests and from the thin DAGs in ``dags/``.
"""

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
