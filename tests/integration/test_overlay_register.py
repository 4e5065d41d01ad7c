"""A rules overlay in the register (issue 13, item 8): a recompute under an overlay moves the
stored dates it changes, and the audit trail names the overlay by its checksum."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from statutory_clock.store import db, register
from statutory_clock.store.models import AuditEvent
from tests.seeds import seed_as_it_stood

CROYDON = Path(__file__).resolve().parents[2] / "include" / "demo" / "croydon-2017.yaml"
AS_OF = date(2017, 10, 2)


def test_recompute_under_an_overlay_audits_its_checksum(register_engine, tmp_path, monkeypatch):
    with db.transaction(register_engine) as session:
        register.import_case(session, seed_as_it_stood(CROYDON), "tester", AS_OF)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "overrides:\n  sif.action_planning_visit:\n    unit: calendar_days\n", encoding="utf-8"
    )
    sha = hashlib.sha256(overlay.read_bytes()).hexdigest()
    monkeypatch.setenv("STATCLOCK_RULES_OVERLAY", str(overlay))
    with db.transaction(register_engine) as session:
        (result,) = register.recompute_all(session, AS_OF, "statutory_clock DAG")
    # 35 calendar days after Monday 4 September 2017, not 35 working days (23 October)
    assert ("action_planning_visit", date(2017, 10, 23), date(2017, 10, 9)) in result.moved
    with db.transaction(register_engine) as session:
        rows = (
            session.execute(
                select(AuditEvent).where(
                    AuditEvent.inspection_key == "croydon-2017",
                    AuditEvent.entity == "milestone action_planning_visit",
                    AuditEvent.action.in_(["deadline moved", "window_start changed"]),
                )
            )
            .scalars()
            .all()
        )
        assert {r.action for r in rows} == {"deadline moved", "window_start changed"}
        for row in rows:
            assert row.reason.endswith(f"local override {sha[:12]}"), row.reason
        case = register.get_case(session, "croydon-2017")
        stored = {m.milestone_id: m for m in case.milestones}["action_planning_visit"]
        assert (
            f"(local override: 25 to 35 calendar days instead of 25 to 35 working days, {overlay})"
            in stored.basis
        )
        untouched = session.execute(
            select(AuditEvent.reason).where(AuditEvent.action == "deadline moved")
        ).scalars()
        assert all(f"local override {sha[:12]}" in reason for reason in untouched)
    # the overlay removed: the next recompute moves the date back, with no overlay named
    monkeypatch.delenv("STATCLOCK_RULES_OVERLAY")
    with db.transaction(register_engine) as session:
        (result,) = register.recompute_all(session, AS_OF, "statutory_clock DAG")
        assert ("action_planning_visit", date(2017, 10, 9), date(2017, 10, 23)) in result.moved
        back = session.execute(
            select(AuditEvent.reason)
            .where(AuditEvent.action == "deadline moved")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).scalar_one()
        assert "local override" not in back


def test_an_invalid_overlay_fails_the_recompute_with_its_message(
    register_engine, tmp_path, monkeypatch
):
    from statutory_clock.rules.overlay import OverlayError

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("overrides:\n  sif.publish_report: {source: x}\n", encoding="utf-8")
    monkeypatch.setenv("STATCLOCK_RULES_OVERLAY", str(overlay))
    with (
        pytest.raises(OverlayError, match=r"rule sif.publish_report, key source"),
        db.transaction(register_engine) as session,
    ):
        register.recompute_all(session, AS_OF, "statutory_clock DAG")
