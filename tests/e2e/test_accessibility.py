"""WCAG 2.2 AA, as axe-core checks it in the browser: no serious or critical violation on the
portfolio, a council page, a what-if result, a refused form and the page for an unknown
council."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import (
    PREFIX,
    axe_violations,
    case_view,
    describe_violations,
    fact_that_moves_the_clock,
    open_cases,
    screenshot,
    visit,
)
from tests.e2e.pages import ask_what_if, submit_bad_date


def _portfolio(page: Any, register: Any) -> None:
    visit(page, f"{PREFIX}/", "axe-portfolio")


def _council(page: Any, register: Any) -> None:
    key = open_cases(register)[0].key
    visit(page, f"{PREFIX}/councils/{key}", f"axe-council-{key}")
    # With the forms open, so that they are checked too.
    for summary in page.locator("details summary").all():
        summary.click()


def _what_if(page: Any, register: Any) -> None:
    fact = fact_that_moves_the_clock(register)
    visit(page, f"{PREFIX}/councils/{fact.key}", f"axe-council-{fact.key}")
    ask_what_if(page, fact.milestone.id, fact.day)
    screenshot(page, f"axe-what-if-{fact.key}")


def _refused_form(page: Any, register: Any) -> None:
    key = open_cases(register)[0].key
    visit(page, f"{PREFIX}/councils/{key}", f"axe-council-{key}")
    answer = submit_bad_date(page, case_view(register, key).timeline[0].id, "31", "13", "2026")
    assert answer.status == 400
    screenshot(page, f"axe-council-{key}-refused")


def _not_found(page: Any, register: Any) -> None:
    visit(page, f"{PREFIX}/councils/no-such-council-2017", "axe-not-found", status=404)


PAGES: dict[str, Callable[[Any, Any], None]] = {
    "portfolio": _portfolio,
    "council": _council,
    "what-if": _what_if,
    "refused-form": _refused_form,
    "not-found": _not_found,
}


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_or_critical_accessibility_violations(page, register, name: str) -> None:
    PAGES[name](page, register)
    violations = axe_violations(page)
    assert not violations, f"{name} ({page.url}):\n{describe_violations(violations)}"
