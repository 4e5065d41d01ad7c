"""Fictional case files and archived packs for the benchmarks and the fault tests.

Each builder (benchmarks/bench_register.py, benchmarks/bench_national.py, benchmarks/bench_ui.py,
tests/topology/test_faults.py) chooses its own councils, officers, judgements and actions; what
every fictional case leaves empty, or fills the same way, is spelt here once, so a field added to
the case file format is added to all of them in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from statutory_clock.store.casefile_typing import (
    ActionDict,
    BoardDict,
    CaseFileDict,
    ContactDict,
    EventDict,
    InspectionDict,
    InterventionDict,
    RecommendationDict,
)
from statutory_clock.store.models import BoardPack, Inspection

THEMES = ["help and protection", "children in care", "care leavers", "leadership", "LSCB"]


def contact(name: str, role: str, email: str, escalation_to: str | None = None) -> ContactDict:
    """A person with an address of their own, reminded of each deadline by its own email."""
    return {
        "name": name,
        "role": role,
        "email": email,
        "phone": None,
        "escalation_to": escalation_to,
        "reminders": "each",
    }


def recommendations(code: str, count: int = 20) -> list[RecommendationDict]:
    """``count`` numbered recommendations for council ``code``, their themes in turn."""
    return [
        {
            "number": n,
            "text": f"Recommendation {n} for council {code}",
            "timescale": None,
            "theme": THEMES[n % len(THEMES)],
        }
        for n in range(1, count + 1)
    ]


def direction(published: date) -> InterventionDict:
    """A DfE direction 20 days after the report, appointing a commissioner."""
    return {
        "direction": published + timedelta(days=20),
        "commissioner": "C",
        "independent_chair": None,
        "adviser": None,
        "reviews": None,
        "notes": None,
    }


def inspection(
    framework: str,
    published: date,
    judgements: Mapping[str, str],
    recs: Sequence[RecommendationDict],
    action_plan: Sequence[ActionDict],
    events: Sequence[EventDict] = (),
    milestone_owners: Mapping[str, str] | None = None,
) -> InspectionDict:
    """A published report with no fieldwork dates, title or adjustments recorded."""
    return {
        "framework": framework,
        "title": None,
        "notified": None,
        "fieldwork_start": None,
        "fieldwork_end": None,
        "published": published,
        "received": None,
        "judgements": dict(judgements),
        "lscb_review": None,
        "rounding": "end_of_month",
        "recommendations": list(recs),
        "action_plan": list(action_plan),
        "events": list(events),
        "planned": [],
        "milestone_owners": dict(milestone_owners or {}),
        "adjustments": [],
    }


def case_file(
    key: str,
    council: str,
    dfe_code: str,
    contacts: Sequence[ContactDict],
    report: InspectionDict,
    intervention: InterventionDict | None = None,
    board: BoardDict | None = None,
) -> CaseFileDict:
    """An open case with no sources or notes."""
    return {
        "schema_version": 1,
        "key": key,
        "local_authority": {"name": council, "dfe_code": dfe_code},
        "contacts": list(contacts),
        "inspection": report,
        "intervention": intervention,
        "board": board,
        "sources": [],
        "notes": None,
        "lifecycle": None,
    }


def archived_pack(case: Inspection, start: date, end: date, created_at: datetime) -> BoardPack:
    """The register's row for a pack of the month ``start``-``end`` (its files are not made)."""
    label = f"{start:%B %Y}"
    folder = f"/packs/{case.key}/{label}/v1"
    return BoardPack(
        inspection_id=case.id,
        period_label=label,
        period_start=start,
        period_end=end,
        meeting_date=None,
        version=1,
        pdf_path=f"{folder}/pack.pdf",
        html_path=f"{folder}/pack.html",
        snapshot_path=f"{folder}/snapshot.json",
        sha256=uuid.uuid4().hex * 2,
        created_at=created_at,
    )
