"""The read model on both databases: one status per milestone, computed once with the register's
calendar, and what the CLI, the reminders and the packs read through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from statutory_clock.board_pack.assemble import PackJob, build_snapshot
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.reminders import load_policy
from statutory_clock.store import db, register
from statutory_clock.store.casefile import parse_case_text
from statutory_clock.store.models import BoardPack, CalendarChange, ReminderLedger
from statutory_clock.store.outbox import plan_reminders, send_pending
from statutory_clock.store.read_model import (
    NextDeadline,
    RagCounts,
    StatusCounts,
    case_view,
    portfolio,
    to_json,
)

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
OWNER = "pat.owner@council.example"
PUBLISHED = "2017-09-04"  # publish_report falls due on Monday 16 October 2017


def case_text(key: str, code: str = "999", published: str = PUBLISHED) -> str:
    return f"""schema_version: 1
key: {key}
local_authority: {{name: Testshire County Council {code}, dfe_code: "{code}"}}
contacts:
  - {{name: Pat Owner, email: {OWNER}}}
inspection:
  framework: sif
  published: {published}
  judgements: {{overall: inadequate}}
  milestone_owners:
    publish_report: Pat Owner
    action_planning_visit: Pat Owner
  action_plan:
    - {{recommendation: null, required_outcome: Audits, status: red, target_date: 2017-12-01}}
    - {{recommendation: null, required_outcome: Supervision, status: amber}}
    - {{recommendation: null, required_outcome: Caseloads}}
board: {{name: Improvement board, distribution: [{OWNER}]}}
"""


def load(engine, *texts: str, as_of: date = date(2017, 9, 4)) -> None:
    with db.transaction(engine) as session:
        for text in texts:
            register.import_case(session, parse_case_text(text, "case.yaml"), "officer", as_of)


def make_ofsted_visit(engine, key: str) -> None:
    """The action planning visit is Ofsted's act (the rulebooks give each rule its party)."""
    with db.transaction(engine) as session:
        case = register.get_case(session, key, lock=True)
        (visit,) = [m for m in case.milestones if m.milestone_id == "action_planning_visit"]
        visit.party = "ofsted"


def statclock(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {**os.environ, "STATCLOCK_DATABASE_URL": url}
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, env=env, timeout=120)


def test_an_ofsted_act_past_its_date_is_not_recorded_never_overdue_nor_chased(register_engine):
    load(register_engine, case_text("testshire-2017"))
    make_ofsted_visit(register_engine, "testshire-2017")
    november = date(2017, 11, 6)  # publish_report (16 Oct) and the visit (23 Oct) both past
    with db.transaction(register_engine) as session:
        (row,) = portfolio(session, november)
        view = case_view(session, "testshire-2017", november)
    statuses = {e.id: (e.status, e.party) for e in view.timeline}
    assert statuses["publish_report"] == ("overdue", "council")
    assert statuses["action_planning_visit"] == ("not_recorded", "ofsted")
    assert (row.counts.overdue, row.counts.not_recorded) == (1, 1)
    assert row.counts == view.counts
    assert sum(vars(row.counts).values()) == len(view.timeline)
    # The next deadline is the council's next one still ahead, never a past or Ofsted one.
    assert row.next_deadline is not None and row.next_deadline.id == "written_statement_of_action"
    assert row.next_deadline.due >= november

    with db.transaction(register_engine) as session:
        plan_reminders(session, november, load_policy(), "pm@council.example")
        chased = set(
            session.execute(select(ReminderLedger.item, ReminderLedger.reminder_kind)).all()
        )
    items = {item for item, _ in chased}
    assert "milestone:publish_report" in items  # the council's overdue duty is chased
    assert "milestone:action_planning_visit" not in items  # Ofsted's past visit never is


def test_the_register_calendar_decides_status_in_the_cli_the_dag_and_the_pack(
    register_engine, register_url
):
    load(register_engine, case_text("testshire-2017"))
    holiday = date(2017, 10, 11)  # a bank holiday an operator added (not in the snapshot)
    with db.transaction(register_engine) as session:
        session.add(
            CalendarChange(
                division="england-and-wales",
                day=holiday,
                change="added",
                title="Operator",
                source="operator: A. Manager",
                recorded_at=datetime.now(UTC),
            )
        )
    with db.transaction(register_engine) as session:
        calendar = register.calendar_for(session)
        register.recompute_all(session, date(2017, 10, 2), "statutory_clock DAG")  # the DAG's task
        due = next(
            m.effective_due
            for m in register.get_case(session, "testshire-2017").milestones
            if m.milestone_id == "publish_report"
        )
    as_of = calendar.add_working_days(due, -5)  # 5 working days left on the register's calendar
    assert as_of < holiday < due
    with db.transaction(register_engine) as session:
        register.recompute_all(session, as_of, "statutory_clock DAG")
        case = register.get_case(session, "testshire-2017")
        persisted = {m.milestone_id: m.status for m in case.milestones}
        bundled = {
            m.milestone_id: register.persisted_status(m, as_of, WorkingDayCalendar())
            for m in case.milestones
        }
        snapshot = build_snapshot(
            session,
            PackJob("testshire-2017", date(2017, 9, 1), date(2017, 9, 30), "September 2017", None),
            as_of,
            1,
            datetime.now(UTC),
        )
        (row,) = portfolio(session, as_of)
    # The bundled calendar alone would call it upcoming (six working days): the register's
    # calendar, with the operator's holiday, says due. Everyone must say due.
    assert (persisted["publish_report"], bundled["publish_report"]) == ("due", "upcoming")
    assert row.next_deadline == NextDeadline(
        "publish_report", row.next_deadline.title, due, 5, row.next_deadline.act_by
    )
    assert row.next_deadline.act_by <= due
    assert {m.id: m.status for m in snapshot.milestones} == persisted
    assert snapshot.headline.next_deadline is not None
    assert snapshot.headline.next_deadline.working_days_left == 5

    shown = statclock(
        register_url, "case", "show", "testshire-2017", "--format", "json", "--as-of", str(as_of)
    )
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert {m["id"]: m["status"] for m in document["milestones"]} == persisted
    parties = {m["id"]: m["party"] for m in document["milestones"]}
    assert parties["publish_report"] == parties["written_statement_of_action"] == "council"
    assert parties["action_planning_visit"] == "ofsted"  # whose act it is, from the rulebook
    assert document["state"] == "open"
    listed = statclock(register_url, "case", "list", "--format", "json", "--as-of", str(as_of))
    assert listed.returncode == 0, listed.stderr
    (listed_row,) = json.loads(listed.stdout)
    assert listed_row["next_deadline"]["working_days_left"] == 5
    assert listed_row["next_deadline"]["id"] == "publish_report"
    assert listed_row["next_deadline"]["due"] == due.isoformat()
    assert listed_row["counts"]["due"] == document["counts"]["due"] >= 1


def test_a_closed_case_is_left_out_unless_asked_for(register_engine, register_url):
    load(register_engine, case_text("testshire-2017"), case_text("otherton-2017", code="998"))
    with db.transaction(register_engine) as session:
        register.close_case(session, "otherton-2017", "pm", date(2017, 9, 20), "Merged")
    as_of = date(2017, 11, 6)
    with db.transaction(register_engine) as session:
        assert [r.key for r in portfolio(session, as_of)] == ["testshire-2017"]
        rows = {r.key: r for r in portfolio(session, as_of, include_closed=True)}
    closed = rows["otherton-2017"]
    assert (closed.state, closed.closed_reason, closed.closed_on) == (
        "closed",
        "closed_by_person",
        date(2017, 9, 20),
    )
    assert closed.next_deadline is None
    assert closed.counts.overdue == closed.counts.due == closed.counts.not_recorded == 0
    assert closed.counts.closed > 0  # its history is kept, as closed
    assert rows["testshire-2017"].counts.overdue > 0

    listed = statclock(register_url, "case", "list", "--as-of", str(as_of))
    assert "testshire-2017" in listed.stdout and "otherton-2017" not in listed.stdout
    everything = statclock(register_url, "case", "list", "--all", "--as-of", str(as_of))
    (line,) = [x for x in everything.stdout.splitlines() if x.startswith("otherton-2017")]
    assert " closed " in line and "closed by person on Wed 20 Sep 2017" in line
    as_json = json.loads(
        statclock(register_url, "case", "list", "--all", "--format", "json").stdout
    )
    assert [(r["key"], r["state"]) for r in as_json] == [
        ("otherton-2017", "closed"),
        ("testshire-2017", "open"),
    ]
    assert {"key", "authority", "dfe_code", "state", "next_deadline", "counts"} <= set(as_json[0])


def test_portfolio_and_case_view_carry_rag_reminders_packs_and_audit(register_engine, tmp_path):
    load(register_engine, case_text("testshire-2017"))
    as_of = date(2017, 10, 16)  # publish_report due today: its owner is reminded
    with db.transaction(register_engine) as session:
        plan_reminders(session, as_of, load_policy(), "pm@council.example")
    outbox: list[object] = []
    sent_at = datetime(2017, 10, 16, 23, 30, tzinfo=UTC)  # already the 17th in London? No: BST
    report = send_pending(
        register_engine, outbox.append, "statclock@council.example", lambda: sent_at
    )
    assert report.sent == len(outbox) >= 1
    with db.transaction(register_engine) as session:
        case = register.get_case(session, "testshire-2017")
        session.add(
            BoardPack(
                inspection_id=case.id,
                period_label="September 2017",
                period_start=date(2017, 9, 1),
                period_end=date(2017, 9, 30),
                meeting_date=None,
                version=2,
                pdf_path=str(tmp_path / "pack.pdf"),
                html_path=str(tmp_path / "pack.html"),
                snapshot_path=str(tmp_path / "snapshot.json"),
                sha256="0" * 64,
                created_at=datetime(2017, 10, 6, 8, 0, tzinfo=UTC),
            )
        )
    with db.transaction(register_engine) as session:
        (row,) = portfolio(session, as_of)
        view = case_view(session, "testshire-2017", as_of)
    assert row.rag == view.rag == RagCounts(red=1, amber=1, not_rated=1)
    assert row.judgement == "inadequate" and row.state == "open"
    # 23:30 UTC on 16 October is 00:30 on the 17th in London (BST).
    assert row.last_reminder_sent == date(2017, 10, 17)
    assert row.last_pack is not None and (row.last_pack.period, row.last_pack.version) == (
        "September 2017",
        2,
    )
    assert view.reminders and view.reminders[0].item == "milestone:publish_report"
    assert view.reminders[0].recipient == OWNER
    assert [p.version for p in view.packs] == [2]
    assert "case created" in [a.action for a in view.audit]
    assert [a.rag for a in view.actions] == ["red", "amber", "not_rated"]
    assert view.actions[0].target_date == date(2017, 12, 1)
    publish = next(e for e in view.timeline if e.id == "publish_report")
    assert (publish.status, publish.party, publish.owner) == ("due", "council", "Pat Owner")
    assert view.counts == StatusCounts.of(e.status for e in view.timeline)
    document = to_json(view)
    assert document["as_of"] == "2017-10-16" and document["timeline"][0]["forecast_due"]
    json.dumps(document)  # every value is JSON now


def test_act_by_is_the_working_day_before_a_weekend_due_date_in_the_view_and_json(
    register_engine, register_url
):
    # Issue 13: a direction on 30 November 2023; the board chair's fourth report is due on
    # Saturday 30 November 2024 and is acted on by Friday 29 November.
    text = case_text("directed-2023", published="2023-10-02").replace(
        "framework: sif", "framework: ilacs"
    )
    text += "intervention: {direction: 2023-11-30}\n"
    as_of = date(2024, 11, 4)
    load(register_engine, text, as_of=as_of)
    with db.transaction(register_engine) as session:
        view = case_view(session, "directed-2023", as_of)
    entries = {e.id: e for e in view.timeline}
    report = entries["board_chair_report_4"]
    assert (report.effective_due, report.act_by) == (date(2024, 11, 30), date(2024, 11, 29))
    assert entries["publish_report"].act_by == entries["publish_report"].effective_due
    assert entries["dfe_review_2"].effective_due == date(2024, 12, 2)  # rolled: the DfE's act
    shown = statclock(
        register_url, "case", "show", "directed-2023", "--format", "json", "--as-of", "2024-11-04"
    )
    assert shown.returncode == 0, shown.stderr
    by_id = {m["id"]: m for m in json.loads(shown.stdout)["milestones"]}
    assert (by_id["board_chair_report_4"]["due"], by_id["board_chair_report_4"]["act_by"]) == (
        "2024-11-30",
        "2024-11-29",
    )
    assert all(m["act_by"] <= m["effective_due"] for m in by_id.values())
