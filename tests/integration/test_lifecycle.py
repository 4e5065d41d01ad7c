"""A case's lifecycle on both databases: superseded when a later inspection of the same authority
is registered (however it comes in), closed and reopened by a person, and once closed never
chased: no reminders, no packs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from statutory_clock.board_pack.assemble import PackError, ad_hoc_job, due_packs
from statutory_clock.reminders import load_policy
from statutory_clock.store import db, register
from statutory_clock.store.case_document import Lifecycle
from statutory_clock.store.casefile import (
    CaseFileError,
    dump_case_file,
    parse_case_text,
)
from statutory_clock.store.models import AuditEvent, Inspection, ReminderLedger
from statutory_clock.store.outbox import plan_reminders, send_pending

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
OWNER = "pat.owner@council.example"


def case_text(key: str, published: str, *, code: str = "999", extra: str = "") -> str:
    """A small SIF case of a fictional council, with an owner to remind and a board."""
    return f"""schema_version: 1
key: {key}
local_authority: {{name: Testshire County Council {code}, dfe_code: "{code}"}}
contacts:
  - {{name: Pat Owner, email: {OWNER}}}
inspection:
  framework: sif
  published: {published}
  judgements: {{overall: inadequate}}
  milestone_owners: {{written_statement_of_action: Pat Owner, publish_report: Pat Owner}}
board: {{name: Improvement board, distribution: [{OWNER}]}}
{extra}"""


def register_text(engine, text: str, as_of: date) -> None:
    with db.transaction(engine) as session:
        register.import_case(session, parse_case_text(text, "case.yaml"), "officer", as_of)


def state(engine, key: str) -> tuple[bool, str | None, date | None, str | None, int]:
    with db.transaction(engine) as session:
        case = register.get_case(session, key)
        return case.open, case.closed_reason, case.closed_on, case.superseded_by, case.version


def trail(engine, key: str) -> list[tuple[str, str | None, str | None, str | None]]:
    with db.transaction(engine) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.old, AuditEvent.new, AuditEvent.reason)
            .where(AuditEvent.inspection_key == key, AuditEvent.action.like("case %"))
            .order_by(AuditEvent.id)
        ).all()
    return [tuple(r) for r in rows]


def export(engine, key: str) -> str:
    with db.transaction(engine) as session:
        return dump_case_file(register.export_case(register.get_case(session, key)))


def test_a_later_inspection_supersedes_the_open_one_in_the_same_transaction(register_engine):
    register_text(register_engine, case_text("testshire-2017", "2017-09-04"), date(2017, 9, 4))
    register_text(
        register_engine, case_text("elsewhere-2018", "2018-01-08", code="998"), date(2018, 1, 8)
    )
    assert state(register_engine, "testshire-2017")[:4] == (True, None, None, None)

    register_text(register_engine, case_text("testshire-2018", "2018-06-21"), date(2018, 6, 21))

    assert state(register_engine, "testshire-2017") == (
        False,
        "superseded",
        date(2018, 6, 21),
        "testshire-2018",
        2,
    )
    assert state(register_engine, "testshire-2018")[0] is True
    assert state(register_engine, "elsewhere-2018")[0] is True  # another authority: untouched
    (closed,) = [row for row in trail(register_engine, "testshire-2017") if row[0] == "case closed"]
    assert closed[1:3] == ("open", "closed")
    assert "superseded by testshire-2018" in closed[3] and "Thursday 21 June 2018" in closed[3]
    # The exported case file says so, in the shared lifecycle block.
    text = export(register_engine, "testshire-2017")
    assert parse_case_text(text, "export.yaml").lifecycle == Lifecycle(
        reason="superseded",
        closed_on=date(2018, 6, 21),
        by=None,
        note=None,
        superseded_by="testshire-2018",
    )
    assert "  state: closed\n  reason: superseded\n  closed_on: 2018-06-21\n" in text
    assert parse_case_text(export(register_engine, "testshire-2018"), "x").lifecycle is None
    # Its history stays, and nothing of it is overdue any more.
    with db.transaction(register_engine) as session:
        old = register.get_case(session, "testshire-2017")
        statuses = {
            register.persisted_status(
                m, date(2020, 1, 6), register.calendar_for(session), case_open=old.open
            )
            for m in old.milestones
        }
        assert old.milestones and statuses <= {"closed", "met", "missed", "waived"}
        assert {m.status for m in old.milestones} <= {"closed", "met", "missed", "waived"}


def test_history_registered_late_is_superseded_by_the_later_case(register_engine):
    register_text(register_engine, case_text("testshire-2018", "2018-06-21"), date(2019, 7, 1))
    register_text(register_engine, case_text("testshire-2017", "2017-09-04"), date(2019, 7, 1))
    assert state(register_engine, "testshire-2017")[:4] == (
        False,
        "superseded",
        date(2018, 6, 21),
        "testshire-2018",
    )
    assert state(register_engine, "testshire-2018")[0] is True


def test_a_replaced_case_file_does_not_supersede_a_reopened_case(register_engine):
    register_text(register_engine, case_text("testshire-2017", "2017-09-04"), date(2017, 9, 4))
    register_text(register_engine, case_text("testshire-2018", "2018-06-21"), date(2018, 6, 21))
    with db.transaction(register_engine) as session:
        register.reopen_case(session, "testshire-2017", "pm", date(2019, 7, 1), "Still in court")
    with db.transaction(register_engine) as session:
        doc = dataclasses.replace(
            parse_case_text(export(register_engine, "testshire-2018"), "x"), notes="Re-imported"
        )
        register.import_case(session, doc, "pm", date(2019, 7, 2), replace=True)
    assert state(register_engine, "testshire-2017")[0] is True


def test_close_and_reopen_are_audited_and_refused_twice(register_engine):
    register_text(register_engine, case_text("testshire-2017", "2017-09-04"), date(2017, 9, 4))
    actor = register.Actor("pm", "Director of Children's Services")
    with db.transaction(register_engine) as session:
        closing = register.close_case(
            session,
            "testshire-2017",
            actor,
            date(2019, 3, 1),
            "Intervention over",
            intervention_lifted=True,
        )
    assert closing.reason == "intervention_lifted"
    assert state(register_engine, "testshire-2017")[:3] == (
        False,
        "intervention_lifted",
        date(2019, 3, 1),
    )
    with db.transaction(register_engine) as session:
        case = register.get_case(session, "testshire-2017")
        assert case.closed_by == "pm (for Director of Children's Services)"
        assert case.closed_note == "Intervention over"
    closed_twice = pytest.raises(register.RegisterError, match="is already closed")
    with closed_twice, db.transaction(register_engine) as session:
        register.close_case(session, "testshire-2017", "pm", date(2019, 3, 2), "Again")
    with db.transaction(register_engine) as session:
        register.reopen_case(session, "testshire-2017", "pm", date(2019, 3, 4), "Closed in error")
    opened_twice = pytest.raises(register.RegisterError, match="is already open")
    with opened_twice, db.transaction(register_engine) as session:
        register.reopen_case(session, "testshire-2017", "pm", date(2019, 3, 5), "Again")
    assert state(register_engine, "testshire-2017") == (True, None, None, None, 3)
    assert [row[:3] for row in trail(register_engine, "testshire-2017")] == [
        ("case created", None, None),
        ("case closed", "open", "closed"),
        ("case reopened", "closed", "open"),
    ]
    with pytest.raises(register.ConflictError), db.transaction(register_engine) as session:
        register.close_case(
            session, "testshire-2017", "pm", date(2019, 3, 6), "x", expected_version=2
        )


def test_a_case_file_may_close_its_case(register_engine):
    closed = """lifecycle:
  state: closed
  reason: closed_by_person
  closed_on: 2018-03-01
  by: Pat Owner
  note: Merged into the regional trust
  superseded_by: null
"""
    register_text(
        register_engine, case_text("testshire-2017", "2017-09-04", extra=closed), date(2018, 3, 2)
    )
    assert state(register_engine, "testshire-2017")[:3] == (
        False,
        "closed_by_person",
        date(2018, 3, 1),
    )
    (row,) = [r for r in trail(register_engine, "testshire-2017") if r[0] == "case closed"]
    assert row[3] == "closed by Pat Owner: Merged into the regional trust"
    assert export(register_engine, "testshire-2017").endswith(
        "lifecycle:\n  state: closed\n  reason: closed_by_person\n  closed_on: 2018-03-01\n"
        "  by: Pat Owner\n  note: Merged into the regional trust\n  superseded_by: null\n"
    )


@pytest.mark.parametrize(
    ("block", "field"),
    [
        (
            "lifecycle: {state: closed, reason: superseded, closed_on: 2018-03-01}",
            "lifecycle.superseded_by",
        ),
        (
            "lifecycle: {state: closed, reason: closed_by_person, closed_on: 2018-03-01, "
            "superseded_by: x-2019}",
            "lifecycle.superseded_by",
        ),
        (
            "lifecycle: {state: closed, reason: closed_by_person, closed_on: 2016-03-01}",
            "lifecycle.closed_on",
        ),
        ("lifecycle: {state: closed, reason: bored, closed_on: 2018-03-01}", "lifecycle.reason"),
        ("lifecycle: {state: closed, reason: closed_by_person}", "lifecycle.closed_on"),
        ("lifecycle: {state: open, reason: closed_by_person}", "lifecycle.reason"),
        ("lifecycle: {state: shut}", "lifecycle"),
    ],
    ids=[
        "superseded-by-missing",
        "superseded-by-extra",
        "before-report",
        "reason",
        "no-day",
        "open-with-reason",
        "state",
    ],
)
def test_a_bad_lifecycle_block_is_refused_naming_the_field(block, field):
    with pytest.raises(CaseFileError) as caught:
        parse_case_text(case_text("testshire-2017", "2017-09-04", extra=block), "case.yaml")
    assert caught.value.field.startswith(field)


def test_a_closed_case_gets_no_reminders_and_no_packs(register_engine):
    register_text(register_engine, case_text("testshire-2017", "2017-09-04"), date(2017, 9, 4))
    register_text(
        register_engine, case_text("otherton-2017", "2017-09-04", code="998"), date(2017, 9, 4)
    )
    december = date(2017, 12, 7)  # the fifth working day: monthly packs fall due
    with db.transaction(register_engine) as session:
        register.close_case(session, "testshire-2017", "pm", date(2017, 11, 1), "Merged")
    with db.transaction(register_engine) as session:
        plan_reminders(session, december, load_policy(), "pm@council.example")
        ledger = (
            session.execute(
                select(Inspection.key).join(
                    ReminderLedger, ReminderLedger.inspection_id == Inspection.id
                )
            )
            .scalars()
            .all()
        )
        jobs = due_packs(session, december)
        with pytest.raises(PackError, match="is closed"):
            ad_hoc_job(session, {"case_key": "testshire-2017"}, december)
    assert ledger and set(ledger) == {"otherton-2017"}  # the open twin is reminded
    assert [j.case_key for j in jobs] == ["otherton-2017"]


# -- the command line, on both databases -------------------------------------------------------


def statclock(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {**os.environ, "STATCLOCK_DATABASE_URL": url}
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_command_line_supersedes_closes_and_reopens(register_url, tmp_path):
    files = []
    for key, published in (("testshire-2017", "2017-09-04"), ("testshire-2018", "2018-06-21")):
        path = tmp_path / f"{key}.yaml"
        path.write_text(case_text(key, published), encoding="utf-8")
        files.append(path)
    assert statclock(register_url, "db", "upgrade").returncode == 0
    first = statclock(register_url, "case", "import", str(files[0]), "--as-of", "2019-06-01")
    assert first.returncode == 0, first.stderr
    second = statclock(register_url, "case", "import", str(files[1]), "--as-of", "2018-06-21")
    assert second.returncode == 0, second.stderr
    assert "Closed testshire-2017: superseded by testshire-2018" in second.stdout
    exported = statclock(register_url, "case", "export", "testshire-2017")
    assert (
        "reason: superseded" in exported.stdout
        and "superseded_by: testshire-2018" in exported.stdout
    )

    again = statclock(register_url, "case", "close", "testshire-2017", "--reason", "Done")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "already closed" in again.stderr
    assert "Traceback" not in again.stderr

    reopened = statclock(register_url, "case", "reopen", "testshire-2017", "--reason", "Appeal")
    assert reopened.returncode == 0, reopened.stderr
    closed = statclock(
        register_url,
        "case",
        "close",
        "testshire-2017",
        "--reason",
        "Intervention lifted by the DfE",
        "--intervention-lifted",
        "--as-of",
        "2019-07-01",
    )
    assert closed.returncode == 0, closed.stderr
    assert "Monday 1 July 2019" in closed.stdout
    bad = statclock(register_url, "case", "reopen", "testshire-2018", "--reason", "x\ny")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    audit = statclock(register_url, "case", "audit", "testshire-2017").stdout
    assert [line.split()[3:5] for line in audit.splitlines() if " case " in line] == [
        ["case", "created"],
        ["case", "closed"],
        ["case", "reopened"],
        ["case", "closed"],
    ]


def test_a_reminder_decided_before_the_case_closed_is_never_sent(register_engine):
    register_text(register_engine, case_text("testshire-2017", "2017-09-04"), date(2017, 9, 4))
    monday = date(2017, 10, 16)  # publish_report is due today: its owner is to be told
    with db.transaction(register_engine) as session:
        assert plan_reminders(session, monday, load_policy(), "pm@council.example")
    with db.transaction(register_engine) as session:
        register.close_case(session, "testshire-2017", "pm", monday, "Merged into the trust")
    sent: list[object] = []
    report = send_pending(register_engine, sent.append, "statclock@council.example")
    assert sent == [] and report.sent == 0
    with db.transaction(register_engine) as session:
        states = set(session.execute(select(ReminderLedger.state)).scalars())
    assert states == {"superseded"}
