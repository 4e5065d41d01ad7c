"""Exact round trip, on SQLite and PostgreSQL: export -> import --replace -> export is
byte-identical for every state a case reaches through the register's own commands, and each
difference an import makes is audited as that command would audit it (issue 10, item 4)."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from statutory_clock.store import db, register
from statutory_clock.store.case_document import CaseDocument
from statutory_clock.store.casefile import day_of, dump_case_file, load_case_file, parse_case_text
from statutory_clock.store.models import AuditEvent, Inspection

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
RAG = ["red", "amber", "green", "complete"]
REMOVED = "removed from the case file"
HEADER = ("case replaced", None, None, None, None, "imported again from a case file")
# Ids the clocks of the demo frameworks produce: rule ids (an owner for every milestone of the
# rule) and milestone ids.
OWNED = [
    "publish_report",
    "written_statement_of_action",
    "action_planning_visit",
    "first_monitoring_visit",
    "monitoring_visit",
    "monitoring_visit_2",
    "monitoring_audits_due",
    "reinspection",
]
EVENT_IDS = ["action_planning_visit", "written_statement_of_action", "first_monitoring_visit"]
NAMES = [
    "Siân O'Brien",
    "José Núñez-García",
    "Dr. A. N. Other",
    "Chloé: lead #1",
    "Øystein Ågren",
    "Programme manager",
    "null",
    "2017-10-02",
]
# Free text as people type it: letters of any script, digits, punctuation, symbols and spaces
# (YAML's special characters among them); notes also span lines.
_CHARS = st.characters(categories=("L", "N", "P", "S", "Zs"))
LINE = st.text(_CHARS, min_size=1, max_size=30)
NOTE = st.text(_CHARS | st.just("\n"), max_size=60)
DAYS = st.dates(min_value=date(2010, 1, 1), max_value=date(2030, 12, 31))
MONTHS = DAYS.map(lambda d: {"month": f"{d.year:04d}-{d.month:02d}"})
_keys = itertools.count(1)


def export_text(engine, key: str) -> str:
    with db.transaction(engine) as session:
        return dump_case_file(register.export_case(register.get_case(session, key)))


def dump(doc: dict[str, Any]) -> str:
    """The text of a document a test has edited as data (``CaseDocument.to_dict()``)."""
    return dump_case_file(CaseDocument.from_dict(doc))


def replace(engine, text: str, as_of: date) -> None:
    doc = parse_case_text(text, "export.yaml")
    with db.transaction(engine) as session:
        register.import_case(session, doc, "importer", as_of, replace=True)


def last_audit_id(engine) -> int:
    with db.transaction(engine) as session:
        return session.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one()


def audit_rows(engine, after: int, key: str) -> list[tuple[Any, ...]]:
    """(action, entity, field, old, new, reason) of the rows written since ``after``."""
    with db.transaction(engine) as session:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
        ).scalars()
        found = []
        for r in rows:
            assert r.inspection_key == key and r.actor == "importer"
            entity = None if r.action == "case replaced" else r.entity
            found.append((r.action, entity, r.field, r.old, r.new, r.reason))
        return found


def case_state(engine, key: str) -> tuple[int, dict[str, str]]:
    with db.transaction(engine) as session:
        case = register.get_case(session, key)
        return case.version, {m.milestone_id: m.status for m in case.milestones}


# -- generated cases ------------------------------------------------------------------------


@st.composite
def generated_case(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    """A demo case with generated contacts, action plan, events, owners and meetings."""
    path = draw(st.sampled_from(DEMO))
    doc = load_case_file(path).to_dict()
    doc["key"] = f"rt{next(_keys)}-{path.stem}"
    ins = doc["inspection"]
    report_day = ins["received"] or day_of(ins["published"])
    as_of = report_day + timedelta(days=draw(st.integers(60, 900)))
    names = [c["name"] for c in doc["contacts"]]
    for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True)):
        if name in names:
            continue
        doc["contacts"].append(
            {
                "name": name,
                "role": draw(st.none() | LINE),
                "email": draw(st.sampled_from([None, "pat@example.com", "o.brien@example.org"])),
                "phone": draw(st.none() | st.just("020 7946 0000")),
                "escalation_to": draw(st.none() | st.sampled_from(names)) if names else None,
                "reminders": draw(st.sampled_from(["each", "daily digest"])),
            }
        )
        names.append(name)
    numbers = [r["number"] for r in ins["recommendations"]]
    for _ in range(draw(st.integers(0, 4))):
        ins["action_plan"].append(
            {
                "recommendation": draw(st.none() | st.sampled_from(numbers)) if numbers else None,
                "current_strategy": draw(st.none() | NOTE),
                "required_outcome": draw(st.none() | NOTE),
                "lead_officer": draw(st.none() | LINE),
                "key_tasks": draw(st.none() | NOTE),
                "progress": draw(
                    st.lists(
                        st.fixed_dictionaries({"date": st.none() | DAYS, "note": NOTE}),
                        max_size=3,
                    )
                ),
                "target_date": draw(st.none() | DAYS | MONTHS),
                "status": draw(st.sampled_from([None, *RAG])),
                "smt_lead": draw(st.none() | LINE),
            }
        )
    for milestone in draw(st.lists(st.sampled_from(EVENT_IDS), max_size=2, unique=True)):
        ins["events"].append(
            {
                "milestone": milestone,
                "date": draw(st.dates(min_value=report_day, max_value=as_of)),
                "note": draw(st.none() | NOTE),
            }
        )
    for _ in range(draw(st.integers(0, 2))):
        event: dict[str, Any] = {"milestone": draw(st.sampled_from(OWNED))}
        when = draw(st.none() | DAYS | MONTHS)
        if isinstance(when, dict):
            event["month"] = when["month"]
        else:
            event["date"] = when
        event["note"] = draw(st.none() | NOTE)
        ins["planned"].append(event)
    ins["milestone_owners"] = draw(
        st.dictionaries(st.sampled_from(OWNED), st.sampled_from(names), max_size=4)
    )
    if doc["board"] is not None:
        doc["board"]["meetings"] += draw(st.lists(DAYS | MONTHS, max_size=3))
    if draw(st.booleans()):  # closed in the file, for each of the reasons
        reason = draw(st.sampled_from(["superseded", "intervention_lifted", "closed_by_person"]))
        doc["lifecycle"] = {
            "state": "closed",
            "reason": reason,
            "closed_on": draw(
                st.dates(min_value=max(report_day, day_of(ins["published"])), max_value=as_of)
            ),
            "by": draw(st.none() | LINE),
            "note": draw(st.none() | NOTE),
            "superseded_by": "a-later-case" if reason == "superseded" else None,
        }
    # Through the real file path: dumped, parsed, validated and normalised.
    return parse_case_text(dump(doc), f"{doc['key']}.yaml"), as_of


def apply_commands(engine, key: str, as_of: date, data: st.DataObject) -> None:
    """Random register commands, as `statclock action update`, `milestone extend|waive` and
    `case event` call them; one the register refuses is left out (its transaction rolls back)."""
    for _ in range(data.draw(st.integers(0, 6), label="commands")):
        with db.transaction(engine) as session:
            case = register.get_case(session, key)
            dues = {m.milestone_id: m.due for m in case.milestones}
            actions = len(case.actions)
            report_day = case.received or case.published
        command = data.draw(st.sampled_from(["action", "extend", "waive", "event"]))
        milestone = data.draw(st.sampled_from(sorted(dues)))
        try:
            with db.transaction(engine) as s:
                if command == "action" and actions:
                    register.update_action(
                        s,
                        key,
                        data.draw(st.integers(1, actions)),
                        "officer",
                        as_of,
                        status=data.draw(st.none() | st.sampled_from(RAG)),
                        note=data.draw(st.none() | NOTE),
                        note_date=data.draw(st.none() | DAYS),
                    )
                elif command in ("extend", "waive"):
                    days = data.draw(st.integers(1, 90))
                    register.adjust_milestone(
                        s,
                        key,
                        milestone,
                        "officer",
                        as_of,
                        data.draw(LINE.filter(str.strip)),
                        data.draw(st.sampled_from(["Ofsted", "DfE", "Lead inspector"])),
                        extended_to=dues[milestone] + timedelta(days=days)
                        if command == "extend"
                        else None,
                        waive=command == "waive",
                    )
                elif command == "event":
                    register.record_event(
                        s,
                        key,
                        milestone,
                        data.draw(st.dates(min_value=report_day, max_value=as_of)),
                        "officer",
                        as_of,
                        note=data.draw(st.none() | NOTE),
                    )
        except register.RegisterError:
            pass


def edit(doc: dict[str, Any], data: st.DataObject, milestones: list[str]) -> list[tuple]:
    """Edit an exported case file as a person would, returning the audit rows each edit must
    give (every row but the "case replaced" header and the status changes)."""
    ins = doc["inspection"]
    expected: list[tuple] = []
    kinds = {
        kind
        for kind in ("waive", "unadjust", "progress", "status", "plan", "role", "lifecycle")
        if data.draw(st.booleans(), label=f"edit: {kind}")
    }
    withdrawn = None
    if "unadjust" in kinds and ins["adjustments"]:
        gone = ins["adjustments"].pop(data.draw(st.integers(0, len(ins["adjustments"]) - 1)))
        withdrawn = gone["milestone"]
        entity = f"milestone {withdrawn}"
        if gone["extended_to"] is not None:
            old = gone["extended_to"].isoformat()
            expected.append(("extension withdrawn", entity, "extended_to", old, None, REMOVED))
        if gone["waived"]:
            expected.append(("waiver withdrawn", entity, "waived", "True", "False", REMOVED))
    if "waive" in kinds:
        adjusted = {a["milestone"] for a in ins["adjustments"]} | {withdrawn}
        free = [m for m in milestones if m not in adjusted]
        if free:
            milestone = data.draw(st.sampled_from(free))
            reason = data.draw(LINE.filter(str.strip))
            ins["adjustments"].append(
                {
                    "milestone": milestone,
                    "extended_to": None,
                    "waived": True,
                    "reason": reason,
                    "agreed_by": "Ofsted",
                }
            )
            ins["adjustments"].sort(key=lambda a: a["milestone"])
            expected.append(
                (
                    "waiver granted",
                    f"milestone {milestone}",
                    "waived",
                    "False",
                    "True",
                    f"{reason} (agreed by Ofsted)",
                )
            )
    plan = ins["action_plan"]
    if "progress" in kinds and plan:
        position = data.draw(st.integers(1, len(plan)))
        day, note = data.draw(DAYS), data.draw(NOTE)
        plan[position - 1]["progress"].append({"date": day, "note": note})
        noted = f"{day.isoformat()}: {note}"
        expected.append(("progress noted", f"action {position}", "progress", None, noted, None))
    if "status" in kinds and plan:
        position = data.draw(st.integers(1, len(plan)))
        item = plan[position - 1]
        status = data.draw(st.sampled_from([s for s in RAG if s != item["status"]]))
        expected.append(
            ("action status changed", f"action {position}", "status", item["status"], status, None)
        )
        item["status"] = status
    if "plan" in kinds:
        milestone, day = data.draw(st.sampled_from(OWNED)), data.draw(DAYS)
        ins["planned"].append({"milestone": milestone, "date": day, "note": "Agreed at the board"})
        expected.append(
            (
                "event planned",
                f"planned event {milestone}",
                "date",
                None,
                day.isoformat(),
                "Agreed at the board",
            )
        )
    if "role" in kinds and doc["contacts"]:
        contact = doc["contacts"][data.draw(st.integers(0, len(doc["contacts"]) - 1))]
        role = data.draw(LINE.filter(lambda r: r != contact["role"]))
        expected.append(
            ("contact changed", f"contact {contact['name']}", "role", contact["role"], role, None)
        )
        contact["role"] = role
    if "lifecycle" in kinds:  # a file may close its case, or reopen it
        entity = f"case {doc['key']}"
        if doc["lifecycle"] is None:
            note = data.draw(LINE)
            doc["lifecycle"] = {
                "state": "closed",
                "reason": "closed_by_person",
                "closed_on": day_of(ins["published"]),
                "by": "Pat Example",
                "note": note,
                "superseded_by": None,
            }
            reason = f"closed by Pat Example: {note}"
            expected.append(("case closed", entity, "state", "open", "closed", reason))
        else:
            doc["lifecycle"] = None
            reopened = "reopened in the case file"
            expected.append(("case reopened", entity, "state", "closed", "open", reopened))
    return expected


@settings(
    max_examples=25,
    # Every example is a few transactions on a real database, so shrinking a failure would take
    # minutes: the failing example is reported as found (and replayed from .hypothesis/).
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=generated_case(), data=st.data())
def test_export_import_export_is_byte_identical_and_edits_are_audited_exactly(
    register_engine, case, data
):
    doc, as_of = case
    key = doc.key
    with db.transaction(register_engine) as session:
        register.import_case(session, doc, "officer", as_of)
    apply_commands(register_engine, key, as_of, data)

    first = export_text(register_engine, key)
    exported = parse_case_text(first, "export.yaml").to_dict()["inspection"]
    event(f"adjustments: {min(len(exported['adjustments']), 2)}")
    event(f"recorded events: {min(sum('recorded_by' in e for e in exported['events']), 2)}")
    event(f"progress notes: {min(sum(len(a['progress']) for a in exported['action_plan']), 3)}")
    event(f"owners: {min(len(exported['milestone_owners']), 3)}")
    version, statuses = case_state(register_engine, key)
    mark = last_audit_id(register_engine)
    replace(register_engine, first, as_of)
    assert export_text(register_engine, key) == first
    # Nothing changed, so nothing is written: no audit row, no new version.
    assert audit_rows(register_engine, mark, key) == []
    assert case_state(register_engine, key) == (version, statuses)

    edited = parse_case_text(first, "export.yaml").to_dict()
    expected = edit(edited, data, sorted(statuses))
    edited_text = dump(edited)
    replace(register_engine, edited_text, as_of)
    assert export_text(register_engine, key) == edited_text
    after_version, after_statuses = case_state(register_engine, key)
    rows = audit_rows(register_engine, mark, key)
    event(f"edits audited: {min(len(expected), 3)}")
    if not expected:
        assert rows == [] and after_version == version
        return
    assert rows[0] == HEADER and after_version == version + 1
    status_rows = [
        ("status changed", f"milestone {m}", "status", statuses[m], after_statuses[m])
        for m in statuses
        if statuses[m] != after_statuses[m]
    ]
    assert Counter(row for row in rows[1:] if row[0] != "status changed") == Counter(expected)
    assert sorted(row[:5] for row in rows if row[0] == "status changed") == sorted(status_rows)


@pytest.mark.parametrize("path", DEMO, ids=lambda p: p.stem)
def test_each_demo_case_imports_again_from_its_export_unchanged(register_engine, path):
    doc = load_case_file(path)
    with db.transaction(register_engine) as session:
        register.import_case(session, doc, "officer", date(2019, 3, 1))
    first = export_text(register_engine, doc.key)
    state, mark = case_state(register_engine, doc.key), last_audit_id(register_engine)
    replace(register_engine, first, date(2019, 3, 1))
    assert export_text(register_engine, doc.key) == first
    assert audit_rows(register_engine, mark, doc.key) == []
    assert case_state(register_engine, doc.key) == state


# -- the changes an import makes, one by one -----------------------------------------------

AS_OF = date(2017, 10, 2)


def load(engine, key: str = "croydon-2017") -> dict[str, Any]:
    doc = load_case_file(next(p for p in DEMO if p.stem == key))
    with db.transaction(engine) as session:
        register.import_case(session, doc, "officer", AS_OF)
    return doc.to_dict()


def milestone(engine, key: str, milestone_id: str):
    with db.transaction(engine) as session:
        case = register.get_case(session, key)
        row = next(m for m in case.milestones if m.milestone_id == milestone_id)
        session.expunge(row)
        return row


def test_a_waiver_added_and_then_removed_in_the_file_is_granted_and_withdrawn(register_engine):
    doc = load(register_engine)
    before = milestone(register_engine, "croydon-2017", "monitoring_audits_due_1")
    assert not before.waived
    waived = copy.deepcopy(doc)
    waived["inspection"]["adjustments"] = [
        {
            "milestone": "monitoring_audits_due_1",
            "extended_to": None,
            "waived": True,
            "reason": "No audits requested",
            "agreed_by": "Lead inspector",
        }
    ]
    mark = last_audit_id(register_engine)
    replace(register_engine, dump(waived), AS_OF)
    assert audit_rows(register_engine, mark, "croydon-2017") == [
        HEADER,
        (
            "waiver granted",
            "milestone monitoring_audits_due_1",
            "waived",
            "False",
            "True",
            "No audits requested (agreed by Lead inspector)",
        ),
        (
            "status changed",
            "milestone monitoring_audits_due_1",
            "status",
            before.status,
            "waived",
            "as of 2017-10-02",
        ),
    ]
    assert milestone(register_engine, "croydon-2017", "monitoring_audits_due_1").waived

    mark = last_audit_id(register_engine)
    replace(register_engine, dump(doc), AS_OF)  # the waiver is no longer in the file
    assert audit_rows(register_engine, mark, "croydon-2017") == [
        HEADER,
        (
            "waiver withdrawn",
            "milestone monitoring_audits_due_1",
            "waived",
            "True",
            "False",
            REMOVED,
        ),
        (
            "status changed",
            "milestone monitoring_audits_due_1",
            "status",
            "waived",
            before.status,
            "as of 2017-10-02",
        ),
    ]
    after = milestone(register_engine, "croydon-2017", "monitoring_audits_due_1")
    assert not after.waived and after.adjustment_reason is None and after.agreed_by is None
    assert export_text(register_engine, "croydon-2017") == dump(doc)


def test_a_new_case_file_with_an_extension_and_a_waiver_audits_each_grant(register_engine):
    doc = load_case_file(next(p for p in DEMO if p.stem == "croydon-2017")).to_dict()
    doc["inspection"]["adjustments"] = [
        {
            "milestone": "monitoring_audits_due_1",
            "extended_to": None,
            "waived": True,
            "reason": "No audits requested",
            "agreed_by": "Lead inspector",
        },
        {
            "milestone": "publish_report",
            "extended_to": date(2017, 10, 30),
            "waived": False,
            "reason": "Ofsted agreed a later date",
            "agreed_by": "Ofsted",
        },
    ]
    with db.transaction(register_engine) as session:
        register.import_case(session, CaseDocument.from_dict(doc), "importer", AS_OF)
        grants = session.execute(
            select(
                AuditEvent.action,
                AuditEvent.entity,
                AuditEvent.old,
                AuditEvent.new,
                AuditEvent.reason,
            ).where(AuditEvent.action.in_(["waiver granted", "extension granted"]))
        ).all()
    assert sorted(grants) == [
        (
            "extension granted",
            "milestone publish_report",
            None,
            "2017-10-30",
            "Ofsted agreed a later date (agreed by Ofsted)",
        ),
        (
            "waiver granted",
            "milestone monitoring_audits_due_1",
            "False",
            "True",
            "No audits requested (agreed by Lead inspector)",
        ),
    ]
    assert export_text(register_engine, "croydon-2017") == dump(doc)


def test_an_extension_not_after_the_due_date_is_refused_as_the_command_refuses_it(
    register_engine,
):
    doc = load(register_engine)
    doc["inspection"]["adjustments"] = [
        {
            "milestone": "publish_report",
            "extended_to": date(2017, 10, 1),
            "waived": False,
            "reason": "x",
            "agreed_by": "Ofsted",
        }
    ]
    mark = last_audit_id(register_engine)
    with pytest.raises(register.RegisterError) as caught:
        replace(register_engine, dump(doc), AS_OF)
    assert (caught.value.field, caught.value.value) == (
        "inspection.adjustments.extended_to",
        "2017-10-01",
    )
    assert last_audit_id(register_engine) == mark


def test_an_extension_removed_from_the_file_is_withdrawn_and_reminders_restart(register_engine):
    load(register_engine)
    with db.transaction(register_engine) as session:
        register.adjust_milestone(
            session,
            "croydon-2017",
            "publish_report",
            "officer",
            AS_OF,
            "Ofsted agreed a later date",
            "Ofsted",
            extended_to=date(2017, 10, 30),
        )
    extended = milestone(register_engine, "croydon-2017", "publish_report")
    text = export_text(register_engine, "croydon-2017")
    doc = parse_case_text(text, "export.yaml").to_dict()
    doc["inspection"]["adjustments"] = []
    mark = last_audit_id(register_engine)
    replace(register_engine, dump(doc), AS_OF)
    rows = audit_rows(register_engine, mark, "croydon-2017")
    assert rows[1] == (
        "extension withdrawn",
        "milestone publish_report",
        "extended_to",
        "2017-10-30",
        None,
        REMOVED,
    )
    row = milestone(register_engine, "croydon-2017", "publish_report")
    assert row.extended_to is None and row.due_version == extended.due_version + 1
    # And back again: granted as `statclock milestone extend` grants it.
    mark = last_audit_id(register_engine)
    replace(register_engine, text, AS_OF)
    assert audit_rows(register_engine, mark, "croydon-2017")[1] == (
        "extension granted",
        "milestone publish_report",
        "extended_to",
        None,
        "2017-10-30",
        "Ofsted agreed a later date (agreed by Ofsted)",
    )
    assert export_text(register_engine, "croydon-2017") == text


def test_every_kind_of_difference_is_one_audit_row(register_engine):
    """Actions, progress, events, recommendations, intervention, owners, case fields: each
    difference is one row naming the entity, the field, the old and the new value."""
    load(register_engine, "tower-hamlets-2017")
    key = "tower-hamlets-2017"
    with db.transaction(register_engine) as session:
        register.update_action(session, key, 2, "officer", AS_OF, status="amber", note="Audit")
        register.record_event(
            session, key, "action_planning_visit", date(2017, 5, 25), "officer", AS_OF, note="Held"
        )
    doc = parse_case_text(export_text(register_engine, key), "export.yaml").to_dict()
    ins = doc["inspection"]
    ins["action_plan"][1]["progress"] = []
    ins["action_plan"][1]["status"] = "green"
    original_tasks, ins["action_plan"][2]["key_tasks"] = (
        ins["action_plan"][2]["key_tasks"],
        "New tasks",
    )
    removed_action = ins["action_plan"].pop()
    ins["events"][0]["note"] = "Held with the lead inspector"
    ins["planned"].append({"milestone": "reinspection", "month": "2019-03", "note": None})
    ins["recommendations"][0]["theme"] = "early help"
    removed_recommendation = ins["recommendations"].pop()
    original_title, ins["title"] = ins["title"], "Amended title"
    removed_intervention, doc["intervention"] = doc["intervention"], None
    doc["contacts"].append(
        {
            "name": "New Person",
            "role": "Board clerk",
            "email": None,
            "phone": None,
            "escalation_to": None,
            "reminders": "each",
        }
    )
    ins["milestone_owners"] = {"publish_report": "New Person"}
    mark = last_audit_id(register_engine)
    replace(register_engine, dump(doc), AS_OF)
    rows = audit_rows(register_engine, mark, key)
    # In the order the import applies them: contacts, the inspection's fields,
    # recommendations, actions, events, intervention, board, sources, notes, owners.
    assert rows == [
        HEADER,
        ("contact added", "contact New Person", "role", None, "Board clerk", None),
        ("case field changed", f"case {key}", "title", original_title, "Amended title", None),
        (
            "recommendation removed",
            "recommendation 15",
            None,
            json.dumps(removed_recommendation, ensure_ascii=False),
            None,
            REMOVED,
        ),
        (
            "recommendation changed",
            "recommendation 1",
            "theme",
            "practice standards",
            "early help",
            None,
        ),
        ("action status changed", "action 2", "status", "amber", "green", None),
        ("progress note removed", "action 2", "progress", "2017-10-02: Audit", None, REMOVED),
        ("action changed", "action 3", "key_tasks", original_tasks, "New tasks", None),
        (
            "action removed",
            "action 15",
            None,
            json.dumps(removed_action, ensure_ascii=False, default=date.isoformat),
            None,
            REMOVED,
        ),
        (
            "event corrected",
            "event action_planning_visit",
            "note",
            "Held",
            "Held with the lead inspector",
            None,
        ),
        ("event planned", "planned event reinspection", "date", None, "2019-03", None),
        (
            "intervention removed",
            "intervention",
            None,
            json.dumps(removed_intervention, ensure_ascii=False),
            None,
            REMOVED,
        ),
        ("owner changed", "milestone publish_report", "owner", None, "New Person", None),
    ]
    assert export_text(register_engine, key) == dump(doc)


def test_an_adjustment_naming_no_milestone_is_refused_and_nothing_changes(register_engine):
    doc = load(register_engine)
    doc["inspection"]["adjustments"] = [
        {
            "milestone": "no_such",
            "extended_to": None,
            "waived": True,
            "reason": "x",
            "agreed_by": "y",
        }
    ]
    doc["inspection"]["title"] = "Changed"
    mark = last_audit_id(register_engine)
    with pytest.raises(register.RegisterError) as caught:
        replace(register_engine, dump(doc), AS_OF)
    assert (caught.value.field, caught.value.value) == (
        "inspection.adjustments.milestone",
        "no_such",
    )
    assert last_audit_id(register_engine) == mark
    with db.transaction(register_engine) as session:
        case = session.execute(
            select(Inspection).where(Inspection.key == "croydon-2017")
        ).scalar_one()
        assert case.version == 1 and case.title != "Changed"


# -- the reproduction, through the command line ------------------------------------


def run(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {
        **os.environ,
        "STATCLOCK_DATABASE_URL": f"sqlite:///{database}",
        "STATCLOCK_USER": "tester",
    }
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_export_of_an_updated_case_imports_again_unchanged(tmp_path: Path):
    database = tmp_path / "register.db"
    as_of = ["--as-of", "2017-10-12"]
    for command in (
        ["demo", "load", "--as-of", "2017-10-02"],
        [
            "action",
            "update",
            "tower-hamlets-2017",
            "3",
            "--progress",
            "Audit: complete",
            "--status",
            "amber",
            *as_of,
        ],
        [
            "milestone",
            "extend",
            "croydon-2017",
            "publish_report",
            "--to",
            "2017-10-30",
            "--reason",
            "Ofsted agreed",
            "--agreed-by",
            "Ofsted",
            *as_of,
        ],
        [
            "milestone",
            "waive",
            "croydon-2017",
            "monitoring_audits_due_1",
            "--reason",
            "No audits requested",
            "--agreed-by",
            "Lead inspector",
            *as_of,
        ],
        [
            "case",
            "event",
            "croydon-2017",
            "action_planning_visit",
            "2017-10-10",
            "--note",
            "Held with the lead inspector",
            *as_of,
        ],
    ):
        result = run(database, *command)
        assert result.returncode == 0, result.stderr
    for key in ("tower-hamlets-2017", "croydon-2017"):
        exported = tmp_path / f"{key}.yaml"
        assert run(database, "case", "export", key, "-o", str(exported)).returncode == 0
        before = hashlib.sha256(database.read_bytes()).hexdigest()
        result = run(database, "case", "import", "--replace", str(exported), *as_of)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        # The file is the case as it stands: the register is left byte for byte as it was.
        assert hashlib.sha256(database.read_bytes()).hexdigest() == before
        again = run(database, "case", "export", key)
        assert again.stdout == exported.read_text(encoding="utf-8")
