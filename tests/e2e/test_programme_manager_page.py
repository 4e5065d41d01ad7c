"""The programme manager's page in a real browser, against the running product: what it shows
is what the register holds, a fact recorded through the page moves the clock, a bad date is
refused with GOV.UK's error summary, and a read-only user can neither see nor use the forms."""

from __future__ import annotations

import configparser
import hashlib
import hmac
import re
from typing import Any

from statutory_clock.dates import long_date
from tests.e2e.conftest import (
    PREFIX,
    Product,
    case_view,
    fact_that_moves_the_clock,
    open_cases,
    screenshot,
    visit,
)
from tests.e2e.pages import (
    ask_what_if,
    date_group,
    event_form,
    fill_date,
    milestone_row,
    portfolio_table,
    row_headed,
    submit_bad_date,
    timeline_table,
)

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def assert_no_iso_dates(page: Any) -> None:
    """Dates are written out ("Monday 11 December 2017"), never left as 2017-12-11."""
    text = page.get_by_role("main").inner_text()
    found = [text[max(m.start() - 60, 0) : m.end() + 20] for m in ISO_DATE.finditer(text)]
    assert not found, "ISO dates on the page:\n" + "\n".join(found)


def test_portfolio_shows_every_open_council_with_its_next_deadline(page, register) -> None:
    visit(page, f"{PREFIX}/", "portfolio")
    rows = open_cases(register)
    closed = [r for r in open_cases(register, include_closed=True) if r.state != "open"]
    assert rows, "the demo register has open councils"
    table = portfolio_table(page)
    assert table.locator("tbody tr").count() == len(rows)
    for row in rows:
        shown = table.get_by_role("row").filter(
            has=page.get_by_role("link", name=row.authority, exact=True)
        )
        assert shown.count() == 1, f"{row.key}: {shown.count()} rows"
        link = shown.get_by_role("link", name=row.authority, exact=True)
        assert link.get_attribute("href").endswith(f"/councils/{row.key}")
        text = shown.inner_text()
        assert row.next_deadline is not None
        assert long_date(row.next_deadline.due) in text, (row.key, text)
        assert row.next_deadline.title in text, (row.key, text)
    body = table.inner_text()
    for row in closed:
        assert row.key not in body, f"closed case {row.key} listed without the toggle"
    assert_no_iso_dates(page)

    # Closed cases behind the toggle.
    page.get_by_label("Show closed cases").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    screenshot(page, "portfolio-with-closed")
    body = portfolio_table(page).inner_text()
    assert closed, "the demo register has closed cases"
    for row in [*rows, *closed]:
        assert row.key in body, f"{row.key} missing with closed cases shown"


def test_council_page_shows_the_registers_timeline(page, register) -> None:
    row = open_cases(register)[0]
    view = case_view(register, row.key)
    visit(page, f"{PREFIX}/councils/{row.key}", f"council-{row.key}")
    assert page.get_by_role("heading", level=1).inner_text().strip() == view.authority
    table = timeline_table(page)
    assert table.locator("tbody tr").count() == len(view.timeline)
    for entry in view.timeline:
        shown = milestone_row(table, entry.id)
        assert shown.count() == 1, entry.id
        cells = shown.get_by_role("cell")
        assert long_date(entry.effective_due) in cells.nth(0).inner_text(), entry.id
        if entry.actual is not None:
            assert long_date(entry.actual) in cells.nth(2).inner_text(), entry.id
        assert entry.source in shown.inner_text(), entry.id
    assert_no_iso_dates(page)


def test_recording_a_fact_through_the_page_moves_the_timeline(page, register) -> None:
    fact = fact_that_moves_the_clock(register)
    before = case_view(register, fact.key)
    moved_before = {d.id: d.effective_due for d in fact.dependents}
    visit(page, f"{PREFIX}/councils/{fact.key}", f"council-{fact.key}-before")
    table = timeline_table(page)
    for dependent in fact.dependents:
        due = milestone_row(table, dependent.id).get_by_role("cell").nth(0).inner_text()
        assert long_date(dependent.effective_due) in due

    form = event_form(page)
    form.get_by_label("Milestone").select_option(fact.milestone.id)
    fill_date(date_group(form, "Date it happened"), fact.day)
    form.get_by_label(re.compile("Note")).fill("Visit letter filed in the e2e test's folder")
    screenshot(page, f"council-{fact.key}-recording")
    with page.expect_navigation():
        form.get_by_role("button", name="Record the date").click()
    assert "recorded=event" in page.url, page.url
    screenshot(page, f"council-{fact.key}-recorded")

    banner = page.locator(".govuk-notification-banner--success")
    assert banner.is_visible()
    assert banner.get_by_role("heading").first.inner_text().strip() == "Success"

    # The register holds the fact, under the Airflow user's name, and the dependants moved.
    after = case_view(register, fact.key)
    assert after.version > before.version
    recorded = next(e for e in after.timeline if e.id == fact.milestone.id)
    assert recorded.actual == fact.day
    assert recorded.status == "met"
    moved = {e.id: e.effective_due for e in after.timeline if e.id in moved_before}
    assert any(moved[k] != moved_before[k] for k in moved_before), (moved_before, moved)
    # (The DAGs run meanwhile and may audit changes of their own: look for ours.)
    written = [a for a in after.audit if a not in before.audit]
    assert any(a.actor == "pm" for a in written), written

    # ...and the page shows it.
    table = timeline_table(page)
    row = milestone_row(table, fact.milestone.id)
    assert long_date(fact.day) in row.get_by_role("cell").nth(2).inner_text()
    assert "met" in row.get_by_role("cell").nth(3).inner_text().lower()
    for dependent_id, due in moved.items():
        shown = milestone_row(table, dependent_id).get_by_role("cell").nth(0).inner_text()
        assert long_date(due) in shown, (dependent_id, shown)


def test_a_date_that_does_not_exist_is_refused_with_the_error_summary(page, register) -> None:
    row = open_cases(register)[-1]
    view = case_view(register, row.key)
    target = view.timeline[0]
    visit(page, f"{PREFIX}/councils/{row.key}", f"council-{row.key}")
    answer = submit_bad_date(page, target.id, "31", "2", str(view.as_of.year))
    assert answer.status == 400
    screenshot(page, f"council-{row.key}-bad-date")

    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert "There is a problem" in summary.inner_text()
    message = summary.get_by_role("link").first
    text = message.inner_text()
    assert "date" in text.lower() and "31" in text, text
    # The summary's link leads to the field, which carries the same message.
    href = message.get_attribute("href")
    assert href and href.startswith("#")
    assert page.locator(href).count() == 1, href
    assert page.locator(".govuk-error-message").filter(has_text="31").count() >= 1
    # Nothing was written.
    assert case_view(register, row.key).version == view.version


def test_what_if_shows_what_would_move_and_records_nothing(page, register) -> None:
    fact = fact_that_moves_the_clock(register)
    before = case_view(register, fact.key)
    visit(page, f"{PREFIX}/councils/{fact.key}", f"council-{fact.key}")
    ask_what_if(page, fact.milestone.id, fact.day)
    assert "/what-if" in page.url
    screenshot(page, f"what-if-{fact.key}")
    question = page.get_by_role("main").inner_text()
    assert fact.milestone.title in question and long_date(fact.day) in question
    changed = page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name=re.compile("What-if due"))
    )
    assert changed.locator("tbody tr").count() >= len(fact.dependents)
    for dependent in fact.dependents:
        # Its row ("Due now" is the register's date; several milestones may share a title).
        dues = [
            r.get_by_role("cell").nth(0).inner_text()
            for r in row_headed(changed, dependent.title).all()
        ]
        assert any(long_date(dependent.effective_due) in due for due in dues), (dependent.id, dues)
    after = case_view(register, fact.key)
    assert after.version == before.version
    assert after.timeline == before.timeline


def _csrf_for(product: Product, token: str) -> str:
    """The CSRF value the page would give this credential (security.csrf_token), from the API
    server's secret key: a viewer holding a valid one is still refused, by role."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(product.home / "airflow" / "airflow.cfg")
    key = config.get("api", "secret_key", fallback="")
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def test_a_viewer_sees_no_forms_and_cannot_write(viewer_page, product: Product, register) -> None:
    fact = fact_that_moves_the_clock(register)
    before = case_view(register, fact.key)
    page = viewer_page
    visit(page, f"{PREFIX}/councils/{fact.key}", f"council-{fact.key}-viewer")
    assert page.get_by_role("heading", level=1).inner_text().strip() == before.authority
    assert page.locator("form[method=post]").count() == 0
    assert page.get_by_role("button", name="Record the date").count() == 0

    fields = {
        "milestone": fact.milestone.id,
        "date-day": str(fact.day.day),
        "date-month": str(fact.day.month),
        "date-year": str(fact.day.year),
        "version": str(before.version),
    }
    token = product.token("viewer")
    for csrf in ("", _csrf_for(product, token)):
        answer = page.request.post(
            f"{PREFIX}/councils/{fact.key}/event",
            form={**fields, "csrf_token": csrf},
            max_redirects=0,
        )
        assert answer.status == 403, (answer.status, answer.text()[:500])
        assert "role" in answer.text(), answer.text()[:500]
    after = case_view(register, fact.key)
    assert after.version == before.version
    assert len(after.audit) == len(before.audit)


def test_no_airflow_session_no_page(anonymous_page, product: Product) -> None:
    for path in (f"{PREFIX}/", f"{PREFIX}/api/portfolio"):
        answer = anonymous_page.request.get(path, max_redirects=0)
        assert answer.status == 401, (path, answer.status)
