"""The case register on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from statutory_clock.store import db, register
from statutory_clock.store.casefile import dump_case_file, load_case_file
from statutory_clock.store.models import AuditEvent, Base, Inspection
from tests.seeds import seed_as_it_stood

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
AS_OF = date(2017, 10, 2)


def load_demo(engine, as_of: date = AS_OF) -> None:
    """The seed councils as they stood in 2017: open, whatever their case files say of later
    years (tests/seeds.py)."""
    with db.transaction(engine) as session:
        for path in DEMO:
            register.import_case(session, seed_as_it_stood(path), "tester", as_of)


def test_migrations_reach_head_and_match_the_models(register_engine):
    tables = set(inspect(register_engine).get_table_names())
    assert {"inspection", "milestone", "audit_event", "reminder_ledger", "board_pack"} <= tables
    with register_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_empty_and_back(register_url, register_owner_url):
    from alembic import command

    command.downgrade(db.alembic_config(register_owner_url), "base")
    engine = db.make_engine(register_owner_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    db.upgrade(register_url, owner=register_owner_url)
    engine = db.make_engine(register_url)
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(db.alembic_config(register_url)).get_current_head()
    assert head is not None and int(head) >= 2
    assert db.current_revision(engine) == head
    engine.dispose()


@pytest.mark.parametrize("path", DEMO, ids=lambda p: p.stem)
def test_demo_case_round_trips_exactly(register_engine, path):
    doc = load_case_file(path)
    with db.transaction(register_engine) as session:
        register.import_case(session, doc, "tester", AS_OF)
    with db.transaction(register_engine) as session:
        exported = register.export_case(register.get_case(session, doc.key))
    assert exported == doc
    # Exporting what was exported changes nothing, byte for byte.
    with db.transaction(register_engine) as session:
        again = register.export_case(register.get_case(session, doc.key))
    assert dump_case_file(again) == dump_case_file(exported)


def test_demo_register_contents(register_engine):
    load_demo(register_engine)
    with db.transaction(register_engine) as session:
        croydon = register.get_case(session, "croydon-2017")
        by_id = {m.milestone_id: m for m in croydon.milestones}
        assert by_id["written_statement_of_action"].due == date(2017, 12, 11)
        assert croydon.lscb_review == "inadequate"
        bromley = register.get_case(session, "bromley-2010")
        assert len(bromley.recommendations) == 16
        assert {m.milestone_id: m.due for m in bromley.milestones}["recommendation_9"] in (
            date(2010, 8, 31),
            date(2010, 11, 30),
            date(2010, 5, 24),
            date(2011, 5, 31),
        )
        bromley_2016 = register.get_case(session, "bromley-2016")
        apv = {m.milestone_id: m for m in bromley_2016.milestones}["action_planning_visit"]
        assert apv.actual == date(2016, 7, 26) and apv.status == "met"
        assert len(register.get_case(session, "tower-hamlets-2017").actions) == 15
        audits = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        assert audits > 5 * 8  # every case, authority, contact and milestone creation


def test_recording_a_visit_moves_the_next_one_and_audits_it(register_engine):
    load_demo(register_engine)
    with db.transaction(register_engine) as session:
        result = register.record_event(
            session,
            "croydon-2017",
            "first_monitoring_visit",
            date(2018, 2, 6),
            "programme manager",
            date(2018, 2, 9),
        )
    # Issue 13: Ofsted's visits are forecast on working days, so the forecasts were Sunday
    # 8 April -> Monday 9 April, and Sunday 6 May -> Tuesday 8 May (after the May bank holiday).
    assert ("monitoring_visit_2", date(2018, 4, 9), date(2018, 5, 8)) in result.moved
    with db.transaction(register_engine) as session:
        case = register.get_case(session, "croydon-2017")
        by_id = {m.milestone_id: m for m in case.milestones}
        assert by_id["first_monitoring_visit"].actual == date(2018, 2, 6)
        assert by_id["monitoring_visit_2"].due == date(2018, 5, 8)
        assert by_id["monitoring_visit_2"].due_version == 2
        assert case.version == 2
        moved = session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "deadline moved",
                AuditEvent.entity == "milestone monitoring_visit_2",
            )
        ).scalar_one()
        assert (moved.old, moved.new, moved.actor) == (
            "2018-04-09",
            "2018-05-08",
            "programme manager",
        )


def test_extension_and_waiver(register_engine):
    load_demo(register_engine)
    with db.transaction(register_engine) as session:
        register.adjust_milestone(
            session,
            "croydon-2017",
            "publish_report",
            "pm",
            date(2017, 10, 17),
            "Ofsted agreed a later date",
            "Ofsted",
            extended_to=date(2017, 10, 30),
        )
        register.adjust_milestone(
            session,
            "croydon-2017",
            "monitoring_audits_due_1",
            "pm",
            date(2017, 10, 17),
            "No audits requested",
            "Lead inspector",
            waive=True,
        )
    with db.transaction(register_engine) as session:
        by_id = {m.milestone_id: m for m in register.get_case(session, "croydon-2017").milestones}
        report = by_id["publish_report"]
        assert report.extended_to == date(2017, 10, 30) and report.status == "upcoming"
        assert report.due == date(2017, 10, 16)  # the statutory date itself is kept
        assert by_id["monitoring_audits_due_1"].status == "waived"
        exported = register.export_case(register.get_case(session, "croydon-2017"))
    assert {a.milestone for a in exported.inspection.adjustments} == {
        "publish_report",
        "monitoring_audits_due_1",
    }


def test_action_update(register_engine):
    load_demo(register_engine)
    with db.transaction(register_engine) as session:
        register.update_action(
            session,
            "tower-hamlets-2017",
            2,
            "pm",
            date(2017, 10, 3),
            status="amber",
            note="Audit of strategy meetings complete",
        )
    with db.transaction(register_engine) as session:
        item = register.get_case(session, "tower-hamlets-2017").actions[1]
        assert item.status == "amber"
        assert item.progress[-1].note == "Audit of strategy meetings complete"
        assert item.progress[-1].date == date(2017, 10, 3)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda s: register.record_event(
                s, "croydon-2017", "no_such", date(2017, 10, 1), "pm", AS_OF
            ),
            "milestone",
        ),
        (
            lambda s: register.record_event(
                s, "croydon-2017", "publish_report", date(2017, 10, 9), "pm", AS_OF
            ),
            "date",
        ),
        (
            lambda s: register.update_action(
                s, "tower-hamlets-2017", 99, "pm", AS_OF, status="red"
            ),
            "action",
        ),
        (
            lambda s: register.update_action(
                s, "tower-hamlets-2017", 1, "pm", AS_OF, status="purple"
            ),
            "status",
        ),
        (
            lambda s: register.adjust_milestone(
                s,
                "croydon-2017",
                "publish_report",
                "pm",
                AS_OF,
                "",
                "Ofsted",
                extended_to=date(2017, 11, 1),
            ),
            "reason",
        ),
        (lambda s: register.get_case(s, "nowhere-2020"), "case"),
    ],
    ids=[
        "unknown-milestone",
        "future-date",
        "unknown-action",
        "bad-rag",
        "no-reason",
        "unknown-case",
    ],
)
def test_refused_writes_change_nothing(register_engine, call, field):
    load_demo(register_engine)
    versions = select(Inspection.key, Inspection.version).order_by(Inspection.key)
    with db.transaction(register_engine) as session:
        before = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        versions_before = session.execute(versions).all()
    with pytest.raises(register.RegisterError) as caught, db.transaction(register_engine) as s:
        call(s)
    assert caught.value.field == field
    with db.transaction(register_engine) as session:
        after = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        assert session.execute(versions).all() == versions_before
    assert after == before


def test_stale_version_is_refused(register_engine):
    load_demo(register_engine)
    with db.transaction(register_engine) as session:
        register.update_action(
            session, "tower-hamlets-2017", 1, "a", AS_OF, status="red", expected_version=1
        )
    with (
        pytest.raises(register.ConflictError, match="now at version 2"),
        db.transaction(register_engine) as session,
    ):
        register.update_action(
            session, "tower-hamlets-2017", 1, "b", AS_OF, status="green", expected_version=1
        )


def test_replace_import_audits_changes(register_engine, tmp_path):
    load_demo(register_engine)
    seed = seed_as_it_stood(DEMO[3])  # croydon-2017
    doc = dataclasses.replace(
        seed, inspection=dataclasses.replace(seed.inspection, received=date(2017, 8, 31))
    )
    with (
        pytest.raises(register.RegisterError, match="already in the register"),
        db.transaction(register_engine) as session,
    ):
        register.import_case(session, doc, "pm", AS_OF)
    with db.transaction(register_engine) as session:
        register.import_case(session, doc, "pm", AS_OF, replace=True)
    with db.transaction(register_engine) as session:
        case = register.get_case(session, "croydon-2017")
        assert {m.milestone_id: m.due for m in case.milestones}[
            "written_statement_of_action"
        ] == date(2017, 12, 7)  # 70 working days after receipt on 31 August
        actions = set(
            session.execute(
                select(AuditEvent.action).where(AuditEvent.inspection_key == "croydon-2017")
            ).scalars()
        )
    assert {"case replaced", "case field changed", "deadline moved"} <= actions


def test_concurrent_writers_on_postgres_lose_no_update(postgres_url):
    """Two real connections update the same case at the same moment: both updates survive."""
    engine = db.make_engine(postgres_url, pool_size=4)
    load_demo(engine)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(note: str) -> None:
        try:
            with db.transaction(engine) as session:
                barrier.wait(timeout=10)  # both transactions are open before either writes
                register.update_action(
                    session, "tower-hamlets-2017", 1, note, AS_OF, note=f"progress from {note}"
                )
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("officer A", "officer B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    with db.transaction(engine) as session:
        case = register.get_case(session, "tower-hamlets-2017")
        notes = [p.note for p in case.actions[0].progress]
        assert "progress from officer A" in notes and "progress from officer B" in notes
        assert case.version == 3
    engine.dispose()


def test_row_lock_blocks_the_second_writer_until_the_first_commits(postgres_url):
    engine = db.make_engine(postgres_url, pool_size=4)
    load_demo(engine)
    first_has_lock = threading.Event()
    release_first = threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.transaction(engine) as session:
            register.get_case(session, "croydon-2017", lock=True)
            first_has_lock.set()
            release_first.wait(timeout=10)
            register.update_action  # noqa: B018 - the lock alone is what is being tested
            order.append("first commits")

    def second() -> None:
        first_has_lock.wait(timeout=10)
        with db.transaction(engine) as session:
            register.record_event(
                session,
                "croydon-2017",
                "action_planning_visit",
                date(2017, 10, 10),
                "second",
                date(2017, 10, 12),
            )
            order.append("second wrote")

    t1, t2 = threading.Thread(target=first), threading.Thread(target=second)
    t1.start()
    t2.start()
    first_has_lock.wait(timeout=10)
    t2.join(timeout=1.0)
    assert t2.is_alive(), "the second writer should be waiting for the row lock"
    release_first.set()
    t1.join(timeout=10)
    t2.join(timeout=10)
    assert order == ["first commits", "second wrote"]
    engine.dispose()
