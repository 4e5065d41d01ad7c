"""How the tests find things on the programme manager's pages: by role, label and legend, as a
person using a screen reader would, rather than by CSS class."""

from __future__ import annotations

import re
from datetime import date
from typing import Any


def portfolio_table(page: Any) -> Any:
    return page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name=re.compile("Next deadline"))
    )


def timeline_table(page: Any) -> Any:
    return page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name=re.compile("Whose act"))
    )


def milestone_row(table: Any, milestone_id: str) -> Any:
    """The row whose header (title, then id) names the milestone. Other rows mention it in
    their basis; the word boundary keeps monitoring_visit_1 from matching _10, _11..."""
    return row_headed(table, re.compile(rf"\b{milestone_id}\b"))


def row_headed(table: Any, text: str | re.Pattern[str]) -> Any:
    """The table's row whose header cell has this text."""
    header = table.page.get_by_role("rowheader").filter(has_text=text)
    return table.get_by_role("row").filter(has=header)


def fill_date(group: Any, day: date) -> None:
    """Type a date into a GOV.UK date input (Day, Month, Year in one fieldset)."""
    group.get_by_label("Day").fill(str(day.day))
    group.get_by_label("Month").fill(str(day.month))
    group.get_by_label("Year").fill(str(day.year))


def date_group(form: Any, legend: str) -> Any:
    return form.get_by_role("group", name=re.compile(legend)).first


def event_form(page: Any) -> Any:
    """The council page's "record when something happened" form, opened."""
    page.get_by_text("Record when something happened").click()
    return page.locator("form", has=page.get_by_role("button", name="Record the date"))


def submit_bad_date(page: Any, milestone_id: str, day: str, month: str, year: str) -> Any:
    """Record a date that does not exist through the event form; the POST's response."""
    form = event_form(page)
    form.get_by_label("Milestone").select_option(milestone_id)
    group = date_group(form, "Date it happened")
    group.get_by_label("Day").fill(day)
    group.get_by_label("Month").fill(month)
    group.get_by_label("Year").fill(year)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name="Record the date").click()
    page.wait_for_load_state()
    return answer.value


def ask_what_if(page: Any, milestone_id: str, day: date) -> None:
    """Ask the council page's what-if form: if this milestone happens on this day?"""
    form = page.locator("form", has=page.get_by_role("button", name="Show what moves"))
    form.get_by_label("Milestone 1", exact=True).select_option(milestone_id)
    fill_date(date_group(form, "Happens on"), day)
    with page.expect_navigation():
        form.get_by_role("button", name="Show what moves").click()
