"""Recording a fact from the council page, through Airflow's real API app: the three forms, on
SQLite and PostgreSQL, with the register, its audit trail and Airflow's asset events checked
directly. Refusals leave the register exactly as it was (every table compared)."""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from statclock_airflow import CASES_ASSET_NAME
from statclock_airflow.ui import context, security
from statutory_clock.store import db
from statutory_clock.store.models import ActionItem, AuditEvent, Base, CaseEvent, Inspection

TOWER = "tower-hamlets-2017"  # published 7 April 2017, 15 actions
CROYDON = "croydon-2017"  # published 4 September 2017
ROOT = "/statclock"


@pytest.fixture
def ui_register_url(seed_register_url: str) -> str:
    """These tests write to the seed councils as they stood in 2017 (open)."""
    return seed_register_url


# -- helpers (imported by the other test modules) ----------------------------------------------


def csrf_for(cookies: dict[str, str] | None = None, bearer: str | None = None) -> str:
    """The CSRF token the page would embed for this credential (security.csrf_token itself)."""
    headers = []
    if cookies:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        headers.append((b"cookie", cookie.encode()))
    if bearer:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    return security.csrf_token(Request({"type": "http", "headers": headers}))


def case_version(url: str, key: str) -> int:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            version = session.scalar(select(Inspection.version).where(Inspection.key == key))
    finally:
        engine.dispose()
    assert version is not None
    return int(version)


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every register table, for comparing before and after a refusal."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted(
                    (tuple(row) for row in connection.execute(select(table))), key=repr
                )
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def audit_rows(url: str, key: str) -> list[AuditEvent]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(AuditEvent).where(AuditEvent.inspection_key == key).order_by(AuditEvent.id)
            ).all()
            session.expunge_all()
            return list(rows)
    finally:
        engine.dispose()


def date_fields(name: str, day: date) -> dict[str, str]:
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def post(
    client: Any,
    key: str,
    form: str,
    data: dict[str, str],
    cookies: dict[str, str],
    url: str,
    *,
    csrf: str | None = "auto",
    version: str | None = "auto",
    **kwargs: Any,
) -> Any:
    body = dict(data)
    if csrf == "auto":
        body["csrf_token"] = csrf_for(cookies)
    elif csrf is not None:
        body["csrf_token"] = csrf
    if version == "auto":
        body["version"] = str(case_version(url, key))
    elif version is not None:
        body["version"] = version
    return client.post(
        f"{ROOT}/councils/{key}/{form}",
        data=body,
        cookies=cookies,
        follow_redirects=False,
        **kwargs,
    )


def asset_events(key: str) -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == CASES_ASSET_NAME)
        ).all()
        return [e.extra for e in events if (e.extra or {}).get("case") == key]


def queued_clock_runs() -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    with create_session() as session:
        return len(
            session.scalars(
                select(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == "statutory_clock")
            ).all()
        )


# -- recording facts -----------------------------------------------------------------------------


def test_record_event(client, pm_cookies, ui_register_url):
    before = asset_events(TOWER)
    response = post(
        client,
        TOWER,
        "event",
        {"milestone": "action_planning_visit", **date_fields("date", date(2017, 5, 10))}
        | {"note": "Held with the lead inspector\r\nMinutes filed"},
        pm_cookies,
        ui_register_url,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == (f"{ROOT}/councils/{TOWER}?recorded=event#record-event")
    shown = client.get(f"{ROOT}/api/councils/{TOWER}", cookies=pm_cookies).json()
    visit = next(m for m in shown["milestones"] if m["id"] == "action_planning_visit")
    assert visit["actual"] == "2017-05-10"
    engine = db.make_engine(ui_register_url)
    with Session(engine) as session:
        event = session.scalars(
            select(CaseEvent)
            .join(Inspection)
            .where(
                Inspection.key == TOWER,
                CaseEvent.kind == "actual",
                CaseEvent.milestone == "action_planning_visit",
            )
        ).one()
        # The browser's CR LF is stored as the command line would store the note: LF.
        assert event.note == "Held with the lead inspector\nMinutes filed"
        assert event.recorded_by == "pm"
    engine.dispose()
    trail = audit_rows(ui_register_url, TOWER)
    recorded = [r for r in trail if r.action == "event recorded"]
    assert [(r.actor, r.on_behalf_of, r.new) for r in recorded] == [("pm", None, "2017-05-10")]
    # The recompute that followed is audited under the same user.
    assert {r.actor for r in trail if r.id > recorded[0].id} == {"pm"}
    after = asset_events(TOWER)
    assert len(after) == len(before) + 1
    assert after[-1] == {"case": TOWER, "by": "pm", "fact": "event"}
    assert queued_clock_runs() >= 1


def test_update_action(client, pm_cookies, ui_register_url):
    response = post(
        client,
        TOWER,
        "action",
        {
            "position": "2",
            "rag": "green",
            "note": "Audit done",
            **date_fields("date", date(2017, 6, 1)),
        },
        pm_cookies,
        ui_register_url,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("?recorded=action#record-action")
    engine = db.make_engine(ui_register_url)
    with Session(engine) as session:
        item = session.scalars(
            select(ActionItem)
            .join(Inspection)
            .where(Inspection.key == TOWER, ActionItem.position == 2)
        ).one()
        assert item.status == "green"
        assert [(p.date, p.note) for p in item.progress][-1] == (date(2017, 6, 1), "Audit done")
    engine.dispose()
    actions = [r.action for r in audit_rows(ui_register_url, TOWER) if r.actor == "pm"]
    assert actions == ["action status changed", "progress noted"]
    assert asset_events(TOWER)[-1]["fact"] == "action"


def test_progress_note_defaults_to_today(client, pm_cookies, ui_register_url):
    engine = db.make_engine(ui_register_url)
    with Session(engine) as session:
        rag = session.scalar(
            select(ActionItem.status)
            .join(Inspection)
            .where(Inspection.key == TOWER, ActionItem.position == 1)
        )
    engine.dispose()
    response = post(
        client,
        TOWER,
        "action",
        {"position": "1", "rag": rag or "not_rated", "note": "Still on track"},
        pm_cookies,
        ui_register_url,
    )
    assert response.status_code == 303, response.text
    noted = [r for r in audit_rows(ui_register_url, TOWER) if r.action == "progress noted"]
    assert noted[-1].new == f"{context.today().isoformat()}: Still on track"
    assert not [
        r for r in audit_rows(ui_register_url, TOWER) if r.action == "action status changed"
    ]


def test_extension_and_waiver(client, pm_cookies, ui_register_url):
    shown = client.get(f"{ROOT}/api/councils/{CROYDON}", cookies=pm_cookies).json()
    plan = next(m for m in shown["milestones"] if m["id"] == "written_statement_of_action")
    later = date.fromisoformat(plan["due"]) + timedelta(days=14)
    extended = post(
        client,
        CROYDON,
        "adjustment",
        {
            "milestone": "written_statement_of_action",
            "kind": "extension",
            **date_fields("extended", later),
            "reason": "Ofsted agreed more time after the election",
            "agreed_by": "Ofsted (lead inspector)",
        },
        pm_cookies,
        ui_register_url,
    )
    assert extended.status_code == 303, extended.text
    assert extended.headers["location"].endswith("?recorded=adjustment#record-adjustment")
    shown = client.get(f"{ROOT}/api/councils/{CROYDON}", cookies=pm_cookies).json()
    plan = next(m for m in shown["milestones"] if m["id"] == "written_statement_of_action")
    assert plan["extended_to"] == later.isoformat() and plan["effective_due"] == later.isoformat()
    waived = post(
        client,
        CROYDON,
        "adjustment",
        {
            "milestone": "action_planning_visit",
            "kind": "waiver",
            **date_fields("extended", later),  # ignored for a waiver
            "reason": "Visit replaced by a monitoring visit",
            "agreed_by": "DfE",
        },
        pm_cookies,
        ui_register_url,
    )
    assert waived.status_code == 303, waived.text
    trail = [(r.actor, r.action, r.reason) for r in audit_rows(ui_register_url, CROYDON)]
    assert (
        "pm",
        "extension granted",
        "Ofsted agreed more time after the election (agreed by Ofsted (lead inspector))",
    ) in trail
    assert ("pm", "waiver granted", "Visit replaced by a monitoring visit (agreed by DfE)") in trail


# -- refusals ----------------------------------------------------------------------------------

EVENT = {"milestone": "action_planning_visit", **date_fields("date", date(2017, 5, 10))}
ACTION = {"position": "3", "rag": "amber", "note": "Progress"}
ADJUSTMENT = {
    "milestone": "written_statement_of_action",
    "kind": "waiver",
    "reason": "Agreed",
    "agreed_by": "DfE",
}
# Worked out when the test runs, not when the module is collected: a suite that crosses
# midnight would otherwise post "tomorrow" as today.
TOMORROW = "tomorrow"

REFUSED = [
    # (form, fields changed, field named, words in the message)
    ("event", {"milestone": "no_such_milestone"}, "milestone", "'no_such_milestone'"),
    ("event", {"milestone": "Robert'); DROP TABLE inspection;--"}, "milestone", "DROP TABLE"),
    ("event", {"date-day": "31", "date-month": "2"}, "date", "Date must be a real date"),
    ("event", {"date-day": "", "date-month": "", "date-year": ""}, "date", "Enter the date"),
    ("event", {"date-month": ""}, "date", "must include a month"),
    ("event", {"date-year": "17"}, "date", "Year must include 4 numbers"),
    ("event", {"date-day": "x"}, "date", "Date must be a real date"),
    ("event", {"date-day": "1" * 5000}, "date", "Date must be a real date"),
    ("event", {"date-year": "1890"}, "date", "outside the dates statclock accepts"),
    ("event", {"date": TOMORROW}, "date", "is in the future"),
    ("event", {**date_fields("date", date(2017, 1, 2))}, "date", "is before the report"),
    ("event", {"note": "a\x00b"}, "note", "NUL"),
    ("event", {"note": "a\rb"}, "note", "line break (CR)"),
    ("event", {"note": "\u202eevil"}, "note", "bidirectional override"),
    ("event", {"note": "n" * 20_000}, "note", "at most 10,000 characters"),
    ("action", {"position": "1e9"}, "position", "is not a whole number"),
    ("action", {"position": "-1"}, "position", "is outside 1 to 10000"),
    ("action", {"position": "99"}, "position", "is not an action of case"),
    ("action", {"position": "9" * 400}, "position", "is outside 1 to 10000"),
    ("action", {"rag": "purple"}, "rag", "'purple' is not a RAG status"),
    ("action", {"rag": ""}, "rag", "is not a RAG status"),
    ("action", {"date-day": "1", "date-month": "13", "date-year": "2017"}, "date", "real date"),
    ("action", {"date-month": "5"}, "date", "Date must include a day and a year"),
    ("adjustment", {"kind": "extension"}, "extended", "Enter the new due date"),
    ("adjustment", {"kind": "pardon"}, "kind", "'pardon' is not an extension or a waiver"),
    ("adjustment", {"reason": "   "}, "reason", "is empty"),
    ("adjustment", {"agreed_by": ""}, "agreed_by", "is empty"),
    ("adjustment", {"agreed_by": "Ofsted\nBcc: x@evil.example"}, "agreed_by", "line break"),
    ("adjustment", {"reason": "r" * 1_001}, "reason", "at most 1,000 characters"),
    (
        "adjustment",
        {"kind": "extension", **date_fields("extended", date(2017, 9, 5))},
        "extended",
        "is not after the due date",
    ),
]


@pytest.mark.parametrize(
    ("form", "changes", "field", "words"),
    REFUSED,
    ids=[f"{form}-{field}-{i}" for i, (form, _c, field, _w) in enumerate(REFUSED)],
)
def test_refused_input_writes_nothing(
    client, pm_cookies, ui_register_url, form, changes, field, words
):
    key = CROYDON if form == "adjustment" else TOWER
    base = {"event": EVENT, "action": ACTION, "adjustment": ADJUSTMENT}[form]
    if changes.get("date") == TOMORROW:
        changes = date_fields("date", context.today() + timedelta(days=1))
    before = snapshot(ui_register_url)
    events = asset_events(key)
    response = post(client, key, form, {**base, **changes}, pm_cookies, ui_register_url)
    assert response.status_code == 400, response.text
    assert "text/html" in response.headers["content-type"]
    assert words in response.text or words in _unescaped(response.text)
    assert "Traceback" not in response.text
    assert snapshot(ui_register_url) == before
    assert asset_events(key) == events


def _unescaped(text: str) -> str:
    import html

    return html.unescape(text)


def test_hostile_values_are_escaped_in_the_refusal(client, pm_cookies, ui_register_url):
    before = snapshot(ui_register_url)
    response = post(
        client,
        TOWER,
        "event",
        {**EVENT, "milestone": "<script>alert(1)</script>"},
        pm_cookies,
        ui_register_url,
    )
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert snapshot(ui_register_url) == before


def test_stale_version_is_a_conflict(client, pm_cookies, ui_register_url):
    stale = str(case_version(ui_register_url, TOWER))
    first = post(client, TOWER, "action", ACTION, pm_cookies, ui_register_url, version=stale)
    assert first.status_code == 303
    before = snapshot(ui_register_url)
    second = post(
        client,
        TOWER,
        "action",
        {**ACTION, "rag": "red"},
        pm_cookies,
        ui_register_url,
        version=stale,
    )
    assert second.status_code == 409, second.text
    assert f"Version: {stale} is stale" in _unescaped(second.text)
    assert snapshot(ui_register_url) == before


@pytest.mark.parametrize("version", [None, "", "abc", "0", "99999999999999999999999"])
def test_version_is_required_and_checked(client, pm_cookies, ui_register_url, version):
    before = snapshot(ui_register_url)
    response = post(client, TOWER, "action", ACTION, pm_cookies, ui_register_url, version=version)
    assert response.status_code == 400
    assert "Version:" in _unescaped(response.text)
    assert snapshot(ui_register_url) == before


def test_unknown_case(client, pm_cookies, ui_register_url):
    before = snapshot(ui_register_url)
    for key in ("no-such-council", "Not_A_Key"):
        response = post(client, key, "event", EVENT, pm_cookies, ui_register_url, version="1")
        assert response.status_code == 404, response.text
    assert snapshot(ui_register_url) == before


def test_oversized_body_is_refused(client, pm_cookies, ui_register_url):
    before = snapshot(ui_register_url)
    response = post(
        client, TOWER, "event", {**EVENT, "note": "x" * 100_000}, pm_cookies, ui_register_url
    )
    assert response.status_code == 413
    assert snapshot(ui_register_url) == before


def test_not_a_form(client, pm_cookies, ui_register_url):
    before = snapshot(ui_register_url)
    response = client.post(
        f"{ROOT}/councils/{TOWER}/event",
        json={**EVENT, "csrf_token": csrf_for(pm_cookies)},
        cookies=pm_cookies,
    )
    assert response.status_code == 415
    bad_bytes = client.post(
        f"{ROOT}/councils/{TOWER}/event",
        content=b"milestone=\xff\xfe&version=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
        cookies=pm_cookies,
    )
    assert bad_bytes.status_code == 400
    assert snapshot(ui_register_url) == before


def test_fact_kept_when_airflow_does_not_know_the_asset(
    client, pm_cookies, ui_register_url, monkeypatch
):
    """The DAG not parsed yet: the fact is recorded all the same, and the page is told the
    clock is recomputed at the next scheduled run."""
    from airflow.sdk import Asset

    import statclock_airflow

    monkeypatch.setattr(
        statclock_airflow, "cases_asset", lambda: Asset(name="never_parsed", uri="x://never")
    )
    response = post(client, TOWER, "event", EVENT, pm_cookies, ui_register_url)
    assert response.status_code == 303
    assert "recompute=later" in response.headers["location"]
    recorded = [r for r in audit_rows(ui_register_url, TOWER) if r.action == "event recorded"]
    assert [r.actor for r in recorded] == ["pm"]


def test_a_broken_rules_overlay_records_nothing_and_says_why(
    client, pm_cookies, ui_register_url, tmp_path, monkeypatch
):
    """The operator's overlay (STATCLOCK_RULES_OVERLAY) cannot be read: a fact cannot be
    recomputed, so nothing is recorded, and the page says so in one line (503, not a crash);
    what-if says the same."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("overrides:\n  sif.publish_report: {source: mine}\n", encoding="utf-8")
    monkeypatch.setenv("STATCLOCK_RULES_OVERLAY", str(overlay))
    before = snapshot(ui_register_url)
    response = post(client, TOWER, "event", EVENT, pm_cookies, ui_register_url)
    assert response.status_code == 503, response.text
    assert "Nothing was recorded: the rules cannot be read" in html.unescape(response.text)
    assert str(overlay) in html.unescape(response.text)
    assert snapshot(ui_register_url) == before
    client.cookies.update(pm_cookies)
    what_if = client.get(
        f"{ROOT}/councils/{TOWER}/what-if",
        params={"published-day": "10", "published-month": "4", "published-year": "2017"},
    )
    assert what_if.status_code == 503, what_if.text
    assert "The rules cannot be read" in html.unescape(what_if.text)
    assert snapshot(ui_register_url) == before
