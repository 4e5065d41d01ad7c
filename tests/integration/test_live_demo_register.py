"""`statclock demo load` with the live portfolio, on SQLite and PostgreSQL: the fictional
councils arrive once (loading again, even on a later day, adds nothing), beside the seed
councils, and the register holds exactly the portfolio's overdue council items."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from statutory_clock.cli import main
from statutory_clock.engine import ClockBuilder, milestone_status
from statutory_clock.live_demo import NOT_RECORDED, OVERDUE
from statutory_clock.rules import load_rulebooks
from statutory_clock.store import db, register
from statutory_clock.store.models import Inspection

TODAY = date(2026, 11, 30)
LIVE = {"exampleshire-2026", "northwick-2026", "sampleton-2026", "demoford-2026"}


def _load(url: str, as_of: date, capsys) -> str:
    assert main(["demo", "load", "--database-url", url, "--as-of", as_of.isoformat()]) == 0
    return capsys.readouterr().out


def _party(rule_ref: str) -> str:
    """Whose act a persisted milestone is, from its rule (the rulebooks are the source)."""
    framework, _, rule_id = rule_ref.partition(".")
    if framework == "recommendations":
        return "council"
    return next(r.party for r in load_rulebooks()[framework].rules if r.id == rule_id)


def test_demo_load_adds_the_live_portfolio_once(register_url, register_engine, capsys):
    first = _load(register_url, TODAY, capsys)
    for key in LIVE:
        assert f"Imported {key}:" in first
    again = _load(register_url, date(2026, 12, 3), capsys)  # a later day, same year
    assert "already loaded" in again
    with db.transaction(register_engine) as session:
        keys = set(session.execute(select(Inspection.key)).scalars())
        assert keys >= LIVE
        assert session.scalar(select(func.count()).select_from(Inspection)) == len(keys) == 9
        calendar = register.calendar_for(session)
        overdue, not_recorded = [], []
        for case in register.list_cases(session):
            if case.key not in LIVE:
                continue
            facts = register.case_facts(case)
            clock = ClockBuilder(calendar).compute(facts, strict_events=False)
            for m in clock.milestones:
                status = milestone_status(m, TODAY, calendar=calendar)
                if status == "overdue":
                    overdue.append((case.key, m.id))
                elif status == "not_recorded":
                    not_recorded.append((case.key, m.id))
            # what the register persisted agrees with the engine, whoever's act it is
            for record in case.milestones:
                persisted = register.persisted_status(record, TODAY, calendar)
                if persisted == "overdue" and _party(record.rule) != "council":
                    persisted = "not_recorded"
                engine_status = milestone_status(clock.by_id()[record.milestone_id], TODAY)
                assert persisted == engine_status, (case.key, record.milestone_id)
    assert len(overdue) == OVERDUE, overdue
    assert len(not_recorded) == NOT_RECORDED, not_recorded


def test_every_live_council_gets_a_pack_that_renders(register_url, register_engine, capsys):
    """The live councils exercise what the seeds do not (no overall judgement after April
    2026, a pack with no meeting on file): each one's pack renders, HTML and PDF."""
    from datetime import UTC, datetime

    from statutory_clock.board_pack import render_pack
    from statutory_clock.board_pack.assemble import ad_hoc_job, build_snapshot, due_packs

    _load(register_url, TODAY, capsys)
    with db.transaction(register_engine) as session:
        due = {job.case_key for job in due_packs(session, TODAY)}
        snapshots = [
            build_snapshot(
                session,
                ad_hoc_job(session, {"case_key": key}, TODAY),
                TODAY,
                1,
                datetime(2026, 11, 30, 8, tzinfo=UTC),
            )
            for key in sorted(LIVE)
        ]
    assert due, "the live portfolio is arranged so that a pack is due on the day it is loaded"
    for snapshot in snapshots:
        rendered = render_pack(snapshot)
        assert rendered.pdf.startswith(b"%PDF") and "Not set" not in rendered.html
