"""The portfolio, council and what-if pages through Airflow's real API app, asserted against the
register's read model (never hard-coded): rows, written dates, status words, filters, the closed
toggle, 404s, the forms by role, what-if against the engine, pack downloads, run links and
escaping of hostile council data."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select
from starlette.requests import Request

from statclock_airflow.ui import pages
from statclock_airflow.ui.forms import FormError
from statutory_clock.dates import long_date
from statutory_clock.store import db, register
from statutory_clock.store.casefile import parse_case_text
from statutory_clock.store.models import AuditEvent, BoardPack, Inspection
from statutory_clock.store.read_model import case_view, portfolio
from statutory_clock.store.what_if import what_if
from tests.ui.conftest import london_today

ROOT = "/statclock"


def get(client: Any, path: str, cookies: dict[str, str] | None, **params: str) -> Any:
    client.cookies.clear()
    if cookies:
        client.cookies.update(cookies)
    return client.get(f"{ROOT}{path}", params=params or None)


def read(url: str, work: Any) -> Any:
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as session:
            return work(session)
    finally:
        engine.dispose()


def rows_of(page: str) -> dict[str, str]:
    """The portfolio's rows by case key: each row's HTML."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r'<tr [^>]*id="case-([^"]+)".*?</tr>', page, re.S)
    }


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


# -- who may see it --------------------------------------------------------------------------


def test_every_page_needs_an_airflow_user(client, viewer_cookies, ui_register_url):
    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    for path in ("/", f"/councils/{key}", f"/councils/{key}/what-if"):
        assert get(client, path, None).status_code == 401
        assert get(client, path, {"_token": "not-a-token"}).status_code in (401, 403)
        assert get(client, path, viewer_cookies).status_code == 200


# -- portfolio -------------------------------------------------------------------------------


def test_the_portfolio_shows_every_open_case_as_the_register_has_it(
    client, pm_cookies, ui_register_url
):
    today = london_today()
    expected = read(ui_register_url, lambda s: portfolio(s, today))
    page = get(client, "/", pm_cookies)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    rows = rows_of(page.text)
    assert set(rows) == {r.key for r in expected}
    for r in expected:
        row = text(rows[r.key])
        assert r.authority in row
        if r.next_deadline:
            assert long_date(r.next_deadline.due) in row
            assert pages.days_left(r.next_deadline.working_days_left) in row
        for name in ("overdue", "due", "not_recorded"):
            count = getattr(r.counts, name)
            cell = re.search(rf'data-count="{name}">(.*?)</td>', rows[r.key], re.S).group(1)
            assert text(cell).strip().startswith(str(count))
            if count:
                assert pages.STATUS_TAGS[name] in cell
    overdue = sum(r.counts.overdue for r in expected)
    summary = text(re.search(r'id="summary">(.*?)</p>', page.text, re.S).group(1))
    assert f"{len(expected)} open councils" in summary
    assert f"{overdue} deadline{'s' if overdue != 1 else ''} overdue" in summary
    assert long_date(today) in page.text
    assert not re.search(r">\s*\d{4}-\d{2}-\d{2}\s*<", page.text), "no ISO dates shown"


def test_filters_narrow_the_rows_and_bad_values_are_ignored_with_a_message(
    client, pm_cookies, ui_register_url
):
    today = london_today()
    every = read(ui_register_url, lambda s: portfolio(s, today, include_closed=True))
    open_rows = [r for r in every if r.state == "open"]

    overdue = rows_of(get(client, "/", pm_cookies, status="overdue").text)
    assert set(overdue) == {r.key for r in open_rows if r.counts.overdue}
    recorded = rows_of(get(client, "/", pm_cookies, status="not_recorded").text)
    assert set(recorded) == {r.key for r in open_rows if r.counts.not_recorded}

    sif = rows_of(get(client, "/", pm_cookies, framework="sif", closed="1").text)
    assert set(sif) == {r.key for r in every if r.framework == "sif"}
    inadequate = rows_of(get(client, "/", pm_cookies, judgement="inadequate").text)
    assert set(inadequate) == {r.key for r in open_rows if r.judgement == "inadequate"}

    bad = get(client, "/", pm_cookies, framework="<b>nope</b>", sort="sideways")
    assert bad.status_code == 200
    assert set(rows_of(bad.text)) == {r.key for r in open_rows}
    messages = text(" ".join(re.findall(r"<p [^>]*data-ignored>.*?</p>", bad.text, re.S)))
    assert "framework: '<b>nope</b>' is not one of" in messages
    assert "sort: 'sideways' is not one of" in messages
    assert "<b>nope</b>" not in bad.text  # shown escaped


def test_sorting_by_next_deadline(client, pm_cookies, ui_register_url):
    today = london_today()
    expected = read(ui_register_url, lambda s: portfolio(s, today))
    page = get(client, "/", pm_cookies, sort="next_deadline").text
    order = re.findall(r'<tr [^>]*id="case-([^"]+)"', page)
    dues = {r.key: r.next_deadline.due if r.next_deadline else None for r in expected}
    shown = [dues[k] for k in order if dues[k]]
    assert shown == sorted(shown)


def test_closed_cases_are_behind_a_toggle(client, pm_cookies, ui_register_url):
    today = london_today()
    every = read(ui_register_url, lambda s: portfolio(s, today, include_closed=True))
    closed = {r.key for r in every if r.state == "closed"}
    assert closed, "the demo's seed councils are closed"
    assert not closed & set(rows_of(get(client, "/", pm_cookies).text))
    with_closed = get(client, "/", pm_cookies, closed="1").text
    assert closed <= set(rows_of(with_closed))
    assert "Closed" in text(rows_of(with_closed)[sorted(closed)[0]])


def test_a_hostile_authority_name_is_shown_as_text(client, pm_cookies, ui_register_url):
    hostile = "<script>alert(1)</script> & Sons"
    case = f"""schema_version: 1
key: hostile-2026
local_authority: {{name: "{hostile}", dfe_code: "905"}}
inspection:
  framework: ilacs
  published: {(london_today() - timedelta(days=30)).isoformat()}
  judgements: {{help_and_protection: inadequate}}
"""

    def add(session):
        doc = parse_case_text(case, "hostile.yaml")
        register.import_case(session, doc, "tests", london_today())

    read(ui_register_url, add)
    for path in ("/", "/councils/hostile-2026", "/councils/hostile-2026/what-if"):
        page = get(client, path, pm_cookies).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" in page


# -- council page ----------------------------------------------------------------------------


def test_an_unknown_council_is_a_404_page_naming_it(client, pm_cookies):
    page = get(client, f"/councils/{quote('<i>nowhere', safe='')}", pm_cookies)
    assert page.status_code == 404
    assert "Council not found" in page.text
    assert "&lt;i&gt;nowhere" in page.text and "<i>nowhere" not in page.text
    assert 'id="main-content"' in page.text and 'lang="en-GB"' in page.text


def test_the_council_page_shows_the_timeline_as_the_register_has_it(
    client, pm_cookies, ui_register_url
):
    today = london_today()
    key = read(
        ui_register_url,
        lambda s: max(portfolio(s, today), key=lambda r: r.counts.overdue).key,
    )
    view = read(ui_register_url, lambda s: case_view(s, key, today))
    page = get(client, f"/councils/{key}", pm_cookies)
    assert page.status_code == 200
    body = page.text
    assert html.escape(view.authority) in body
    panel = text(re.search(r'id="next-deadline">(.*?)</div>', body, re.S).group(1))
    if view.next_deadline:
        assert long_date(view.next_deadline.due) in panel
        assert pages.days_left(view.next_deadline.working_days_left) in panel
    for e in view.timeline:
        row = re.search(rf'<tr [^>]*id="milestone-{e.id}".*?</tr>', body, re.S)
        assert row, e.id
        words = text(row.group(0))
        assert long_date(e.effective_due) in words
        assert pages.status_label(e.status) in words
        assert pages.party_label(e.party) in words
        assert pages.tag_class(e.status) in row.group(0)
        assert f"?item=milestone%3A{e.id}#reminders" in row.group(0)
    svg = re.search(r"<svg .*?</svg>", body, re.S).group(0)
    assert 'role="img"' in svg and "<desc" in svg
    assert len(re.findall(r'class="app-chart-row"', svg)) == len(view.timeline)
    assert not re.search(r">\s*\d{4}-\d{2}-\d{2}\s*<", body), "no ISO dates shown"


def test_the_forms_are_for_editors_and_readers_are_told_why_not(
    client, pm_cookies, viewer_cookies, ui_register_url
):
    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    version = read(ui_register_url, lambda s: case_view(s, key, london_today()).version)
    editor = get(client, f"/councils/{key}", pm_cookies).text
    for form in ("event", "action", "adjustment"):
        assert f'action="{ROOT}/councils/{key}/{form}"' in editor
    tokens = set(re.findall(r'name="csrf_token" value="([0-9a-f]+)"', editor))
    assert len(tokens) == 1 and len(next(iter(tokens))) == 64
    assert f'name="version" value="{version}"' in editor
    for name in ("date-day", "date-month", "date-year", "extended-day", "agreed_by", "rag"):
        assert f'name="{name}"' in editor
    reader = get(client, f"/councils/{key}", viewer_cookies).text
    assert 'method="post"' not in reader
    assert "cannot record facts" in reader


def test_a_recorded_fact_is_announced(client, pm_cookies, ui_register_url):
    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    for kind, words in pages.RECORDED.items():
        page = get(client, f"/councils/{key}", pm_cookies, recorded=kind).text
        assert "govuk-notification-banner--success" in page and words in page
    page = get(client, f"/councils/{key}", pm_cookies, recorded="<b>x</b>").text
    assert "govuk-notification-banner" not in page


def test_a_refused_form_is_shown_with_its_error(airflow_app, pm_cookies, ui_register_url):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": f"{ROOT}/councils/{key}/event",
            "root_path": ROOT,
            "query_string": b"",
            "headers": [(b"cookie", f"_token={pm_cookies['_token']}".encode())],
        }
    )
    user = SimpleAuthManagerUser(username="pm", role="user")
    message = "date: '2999-01-01' is in the future (today is <today>)"
    error = FormError(form="event", field="date", message=message)
    engine = db.make_engine(ui_register_url)
    try:
        with db.transaction(engine) as session:
            page = pages.render_council(request, session, key, user, error=error, status_code=400)
    finally:
        engine.dispose()
    body = page.body.decode()
    assert page.status_code == 400
    assert "govuk-error-summary" in body
    assert 'href="#event-date-day"' in body
    assert 'id="event-date-error"' in body
    assert message in text(body) and "<today>" not in body
    assert re.search(r'<details class="govuk-details" id="record-event" open>', body)
    assert "<title>Error:" in body


def test_the_audit_trail_shows_the_latest_entries_and_all_on_request(
    client, pm_cookies, ui_register_url, monkeypatch
):
    monkeypatch.setattr(pages, "AUDIT_SHOWN", 10)

    def longest(session):
        counts = {}
        for (key,) in session.execute(select(AuditEvent.inspection_key)):
            counts[key] = counts.get(key, 0) + 1
        return max(counts.items(), key=lambda kv: kv[1])

    key, total = read(ui_register_url, longest)
    assert total > pages.AUDIT_SHOWN, "the demo has a case with a long audit trail"
    latest = get(client, f"/councils/{key}", pm_cookies).text
    table = re.search(r'id="audit-table".*?(<tbody.*?</tbody>)', latest, re.S).group(1)
    assert table.count('<tr class="govuk-table__row">') == pages.AUDIT_SHOWN
    assert "?audit=all#audit" in latest
    every = get(client, f"/councils/{key}", pm_cookies, audit="all").text
    table = re.search(r'id="audit-table".*?(<tbody.*?</tbody>)', every, re.S).group(1)
    assert table.count('<tr class="govuk-table__row">') == total


def test_milestones_link_to_the_dag_runs_that_computed_them(client, pm_cookies, ui_register_url):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    moment, milestone = read(
        ui_register_url,
        lambda s: s.execute(
            select(AuditEvent.at, AuditEvent.entity)
            .where(AuditEvent.inspection_key == key, AuditEvent.entity.like("milestone %"))
            .order_by(AuditEvent.id)
        ).first(),
    )
    milestone = milestone.removeprefix("milestone ")
    at = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    run_id = f"manual__{at.isoformat()}+page-test"
    with create_session() as session:
        session.add(
            DagRun(
                dag_id="statutory_clock",
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                state=DagRunState.SUCCESS,
                start_date=at - timedelta(seconds=5),
                run_after=at - timedelta(seconds=5),
            )
        )
    try:
        with create_session() as session:
            session.execute(
                DagRun.__table__.update()
                .where(DagRun.run_id == run_id)
                .values(end_date=at + timedelta(seconds=5))
            )
        page = get(client, f"/councils/{key}", pm_cookies).text
        row = re.search(rf'<tr [^>]*id="milestone-{milestone}".*?</tr>', page, re.S).group(0)
        href = f'href="/dags/statutory_clock/runs/{quote(run_id, safe="")}" target="_top"'
        assert href in row
    finally:
        with create_session() as session:
            session.execute(DagRun.__table__.delete().where(DagRun.run_id == run_id))


# -- board packs -----------------------------------------------------------------------------


def _add_pack(url: str, key: str, folder: Path, data: bytes) -> tuple[str, int]:
    pdf = folder / "pack.pdf"
    pdf.write_bytes(data)

    def add(session):
        case = session.execute(select(Inspection).where(Inspection.key == key)).scalar_one()
        today = london_today()
        session.add(
            BoardPack(
                inspection_id=case.id,
                period_label="Board 2026/27 #1",
                period_start=today - timedelta(days=30),
                period_end=today,
                meeting_date=today,
                version=1,
                pdf_path=str(pdf),
                html_path=str(folder / "pack.html"),
                snapshot_path=str(folder / "snapshot.json"),
                sha256=hashlib.sha256(data).hexdigest(),
                created_at=datetime.now(UTC),
            )
        )

    read(url, add)
    return "Board 2026/27 #1", 1


def test_a_pack_pdf_downloads_for_readers_only(
    client, pm_cookies, viewer_cookies, ui_register_url, tmp_path
):
    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    data = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
    period, version = _add_pack(ui_register_url, key, tmp_path, data)
    href = f"/councils/{key}/packs/{quote(period, safe='')}/{version}.pdf"
    row = rows_of(get(client, "/", pm_cookies).text)[key]
    assert f'href="{ROOT}{href}"' in row
    assert f'href="{ROOT}{href}"' in get(client, f"/councils/{key}", pm_cookies).text

    got = get(client, href, viewer_cookies)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.content == data
    assert get(client, href, None).status_code == 401
    missing = f"/councils/{key}/packs/{quote(period, safe='')}/{version + 1}.pdf"
    assert get(client, missing, pm_cookies).status_code == 404

    (tmp_path / "pack.pdf").write_bytes(data + b"tampered")
    tampered = get(client, href, pm_cookies)
    assert tampered.status_code == 409 and "checksum" in tampered.text
    (tmp_path / "pack.pdf").unlink()
    assert get(client, href, pm_cookies).status_code == 404
    assert f'href="{ROOT}{href}"' not in rows_of(get(client, "/", pm_cookies).text)[key]


# -- what-if ---------------------------------------------------------------------------------


def _what_if_params(published=None, events=()) -> dict[str, str]:
    params: dict[str, str] = {}
    if published:
        params.update(
            {
                "published-day": str(published.day),
                "published-month": str(published.month),
                "published-year": str(published.year),
            }
        )
    for n, (milestone, day) in enumerate(events, start=1):
        params.update(
            {
                f"milestone-{n}": milestone,
                f"date-{n}-day": str(day.day),
                f"date-{n}-month": str(day.month),
                f"date-{n}-year": str(day.year),
            }
        )
    return params


def test_what_if_shows_what_the_engine_moves_and_writes_nothing(
    client, pm_cookies, ui_register_url
):
    today = london_today()
    key = read(ui_register_url, lambda s: portfolio(s, today)[0].key)
    view = read(ui_register_url, lambda s: case_view(s, key, today))
    later = view.published + timedelta(days=14)

    def state(session):
        return (
            session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc())).first(),
            session.execute(select(Inspection.version).where(Inspection.key == key)).scalar(),
        )

    before = read(ui_register_url, state)
    page = get(client, f"/councils/{key}/what-if", pm_cookies, **_what_if_params(later))
    assert page.status_code == 200, page.text
    expected = read(
        ui_register_url, lambda s: what_if(s, key, published=later, events={}, as_of=today)
    )
    assert expected.changed
    table = re.search(r'id="what-if-table".*?</table>', page.text, re.S).group(0)
    for r in expected.changed:
        row = re.search(rf'<tr [^>]*data-milestone="{r.id}".*?</tr>', table, re.S)
        assert row, r.id
        words = text(row.group(0))
        if r.current_due:
            assert long_date(r.current_due) in words
        if r.new_due:
            assert long_date(r.new_due) in words
        if r.moved_working_days is not None:
            assert pages.working_days(r.moved_working_days) in words
    assert f"{len(expected.unchanged)} other milestone" in text(page.text)
    assert read(ui_register_url, state) == before


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"published-day": "31", "published-month": "2", "published-year": "2026"}, "not a real"),
        ({"published-day": "x", "published-month": "2", "published-year": "2026"}, "use numbers"),
        ({"published-day": "1", "published-year": "2026"}, "not a complete date"),
        (
            {"milestone-1": "<b>nope</b>", "date-1-day": "1", "date-1-month": "1"}
            | {"date-1-year": "2027"},
            "is not a milestone",
        ),
        ({"milestone-1": "publish_report"}, "date 1: '' is needed"),
    ],
)
def test_what_if_refuses_bad_input_in_one_line(client, pm_cookies, params, words):
    page = get(client, "/councils/exampleshire-2026/what-if", pm_cookies, **params)
    if "Council not found" in page.text:  # the live demo's keys carry this year
        key = re.search(r"exampleshire-\d{4}", get(client, "/", pm_cookies).text).group(0)
        page = get(client, f"/councils/{key}/what-if", pm_cookies, **params)
    assert page.status_code == 400
    summary = re.search(r'govuk-error-summary__list">(.*?)</ul>', page.text, re.S).group(1)
    assert words in text(summary)
    assert "Traceback" not in page.text and "<b>nope</b>" not in page.text


def test_each_page_gives_the_feed_address_that_works(client, pm_cookies, ui_register_url):
    """The address shown on the portfolio and on a council's page is its feed, with the token
    `statclock feed url` prints; fetched without any Airflow login, as Outlook would."""
    from icalendar import Calendar

    key = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    for path, expected in (("/", "portfolio"), (f"/councils/{key}", key)):
        page = get(client, path, pm_cookies)
        found = re.search(r'id="feed-address">([^<]+)<', page.text)
        assert found, path
        address = html.unescape(found.group(1))
        assert f"/statclock/feeds/{expected}.ics?token=" in address
        client.cookies.clear()
        feed = client.get(address[address.index("/statclock/") :])
        assert feed.status_code == 200, address
        assert feed.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(feed.text).walk("VEVENT")
        assert events and all(str(e["UID"]).endswith("@statclock") for e in events)
        wrong = client.get(address[address.index("/statclock/") :].split("token=")[0] + "token=x")
        assert wrong.status_code == 404


def test_a_deadline_on_a_non_working_day_says_when_to_act_by(client, pm_cookies, ui_register_url):
    """Every council's page names the last working day before a due date that is not one."""
    today = london_today()
    seen = 0
    for row in read(ui_register_url, lambda s: portfolio(s, today)):
        view = read(ui_register_url, lambda s, key=row.key: case_view(s, key, today))
        page = html.unescape(get(client, f"/councils/{row.key}", pm_cookies).text)
        for entry in view.timeline:
            if entry.act_by != entry.effective_due:
                seen += 1
                assert f"act by {long_date(entry.act_by)}" in page, entry.id
        if row.next_deadline and row.next_deadline.act_by != row.next_deadline.due:
            assert f"Act by {long_date(row.next_deadline.act_by)}" in page
    assert seen, "the demo portfolio has council deadlines on weekends (e.g. month ends)"


def test_unusual_facts_are_shown_for_checking_and_in_the_json(client, pm_cookies, ui_register_url):
    """A report published on a bank holiday (Monday 31 August 2026) is possible but unusual:
    the council page asks for a check, and the case's JSON lists the same warning."""
    case = """schema_version: 1
key: holidayshire-2026
local_authority: {name: "Holidayshire Council", dfe_code: "906"}
inspection:
  framework: ilacs
  published: 2026-08-31
  judgements: {help_and_protection: inadequate}
"""
    read(
        ui_register_url,
        lambda s: register.import_case(
            s, parse_case_text(case, "holidayshire.yaml"), "tests", london_today()
        ),
    )
    page = html.unescape(get(client, "/councils/holidayshire-2026", pm_cookies).text)
    assert "Check these facts against the report" in page
    assert "Monday 31 August 2026 is" in page and "bank holiday" in page
    api = get(client, "/api/councils/holidayshire-2026", pm_cookies).json()
    (warning,) = api["warnings"]
    assert warning.startswith("published: 2026-08-31 is") and "bank holiday" in warning
    quiet = read(ui_register_url, lambda s: portfolio(s, london_today())[0].key)
    assert get(client, f"/api/councils/{quiet}", pm_cookies).json()["warnings"] == []
