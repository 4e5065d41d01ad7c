"""What-if on the register: the engine's answer for changed facts, side by side with the clock
as it stands, and nothing written (the SQLite file is byte-for-byte the same afterwards)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from statutory_clock.engine import ClockBuilder
from statutory_clock.store import db, register
from statutory_clock.store.casefile import parse_case_text
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import AuditEvent, Inspection
from statutory_clock.store.reading import calendar_for, case_facts, get_case
from statutory_clock.store.what_if import what_if

PUBLISHED = date(2017, 9, 4)
AS_OF = date(2017, 10, 2)
CASE = """schema_version: 1
key: testshire-2017
local_authority: {name: Testshire County Council, dfe_code: "999"}
inspection:
  framework: sif
  published: 2017-09-04
  judgements: {overall: inadequate}
"""


def _load(engine) -> None:
    with db.transaction(engine) as session:
        register.import_case(session, parse_case_text(CASE, "case.yaml"), "officer", PUBLISHED)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _engine_clock(session, **changes):
    case = get_case(session, "testshire-2017")
    facts = case_facts(case)
    if "events" in changes:
        changes["events"] = {**facts.events, **changes["events"]}
    builder = ClockBuilder(calendar=calendar_for(session))
    return builder.compute(replace(facts, **changes), case.rounding, strict_events=False).by_id()


def test_a_later_publication_moves_the_dates_the_engine_moves(register_engine):
    _load(register_engine)
    later = date(2017, 9, 18)
    with db.transaction(register_engine) as session:
        before = _engine_clock(session)
        after = _engine_clock(session, published=later)
        result = what_if(session, "testshire-2017", published=later, events={}, as_of=AS_OF)
        cal = calendar_for(session)
    rows = {r.id: r for r in result.rows}
    assert set(rows) == set(before) | set(after)
    moved = {mid for mid in before if before[mid].due != after[mid].due}
    assert moved, "a later publication moves at least the report's own deadlines"
    assert {r.id for r in result.changed} >= moved
    for mid in moved:
        row = rows[mid]
        assert (row.current_due, row.new_due) == (before[mid].due, after[mid].due)
        assert row.moved_working_days == cal.working_days_between(before[mid].due, after[mid].due)
        assert row.moved_working_days > 0
    assert result.published == later and result.current_published == PUBLISHED
    for row in result.unchanged:
        assert row.current_due == row.new_due


def test_a_hypothetical_visit_date_moves_what_follows_it(register_engine):
    _load(register_engine)
    with db.transaction(register_engine) as session:
        before = _engine_clock(session)
        visit = "action_planning_visit"
        held = before[visit].due  # held on its last permitted day
        after = _engine_clock(session, events={visit: held})
        result = what_if(
            session, "testshire-2017", published=None, events={visit: held}, as_of=AS_OF
        )
    rows = {r.id: r for r in result.rows}
    assert rows[visit].new_actual == held and rows[visit].current_actual is None
    assert rows[visit].status_then == "met"
    for mid, milestone in after.items():
        assert rows[mid].new_due == milestone.due
    assert result.published == PUBLISHED


def test_what_if_writes_nothing(sqlite_register_url):
    engine = db.make_engine(sqlite_register_url)
    try:
        _load(engine)
        path = Path(sqlite_register_url.removeprefix("sqlite:///"))
        engine.dispose()
        digest = _digest(path)
        with db.transaction(engine) as session:
            what_if(
                session,
                "testshire-2017",
                published=date(2017, 9, 11),
                events={"action_planning_visit": date(2017, 10, 20)},
                as_of=AS_OF,
            )
        engine.dispose()
        assert _digest(path) == digest
    finally:
        engine.dispose()


def test_nothing_is_written_on_either_database(register_engine):
    _load(register_engine)
    with db.transaction(register_engine) as session:
        audits = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        version = session.execute(select(Inspection.version)).scalar_one()
        what_if(session, "testshire-2017", published=date(2017, 9, 11), events={}, as_of=AS_OF)
        assert not session.new and not session.dirty and not session.deleted
    with db.transaction(register_engine) as session:
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == audits
        assert session.execute(select(Inspection.version)).scalar_one() == version


@pytest.mark.parametrize(
    ("published", "events", "field", "words"),
    [
        (None, {"no_such_milestone": date(2017, 10, 1)}, "milestone", "is not a milestone"),
        (
            None,
            {"action_planning_visit": date(2017, 8, 1)},
            "event action_planning_visit",
            "before the report",
        ),
        (date(1990, 1, 1), {}, "published", "outside the sif framework's period"),
    ],
)
def test_bad_questions_are_refused_naming_field_and_value(
    register_engine, published, events, field, words
):
    _load(register_engine)
    with db.transaction(register_engine) as session, pytest.raises(RegisterError) as refused:
        what_if(session, "testshire-2017", published=published, events=events, as_of=AS_OF)
    assert refused.value.field == field
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_unknown_case_is_refused(register_engine):
    with db.transaction(register_engine) as session, pytest.raises(RegisterError) as refused:
        what_if(session, "nowhere-2017", published=None, events={}, as_of=AS_OF)
    assert refused.value.field == "case"
