"""The register_inspection trigger form in the running product, as a programme manager uses it.

Logged in through Airflow's own login form, the programme manager opens the form: nothing is
marked as an error and no field shows "null" before anything is typed, and the council's and the
report's fields are open. A valid inspection typed into it is registered by the real scheduler
(the case is in the register and the run's note names the council). A refused one fails with
one plain line, first in the task log (no traceback) and as the run's note, written by the
listener plugin in the scheduler (tests/dags covers it under dag.test() only).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx

from tests.e2e.conftest import Product, case_view, screenshot, today

DAG = "register_inspection"
TASK = "register_case"
# Fictional councils with DfE codes the demo portfolio does not use (it has 901-904).
COUNCIL = "Royal Borough of Exampleton"
COUNCIL_KEY = "exampleton-2026"
REFUSED = "Testbury Borough Council"


def _api(product: Product, path: str, **params: str) -> Any:
    response = httpx.get(
        product.url(f"/api/v2/dags/{DAG}{path}"),
        params=params,
        headers={"Authorization": f"Bearer {product.token('pm')}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _run_ids(product: Product) -> set[str]:
    return {r["dag_run_id"] for r in _api(product, "/dagRuns", limit="100")["dag_runs"]}


def _finished(product: Product, known: set[str], timeout: float = 300) -> dict[str, Any]:
    """The one run triggered since ``known`` was taken, once it has finished (polling)."""
    deadline = time.monotonic() + timeout
    new: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = _api(product, "/dagRuns", limit="100")["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in known]
        assert len(new) <= 1, new
        if new and new[0]["state"] in ("success", "failed"):
            # Read it again by its id, as a person following the run's link would.
            run: dict[str, Any] = _api(product, f"/dagRuns/{new[0]['dag_run_id']}")
            return run
        time.sleep(1)
    raise AssertionError(f"the triggered run of {DAG} did not finish: {new}")


def _task_log(product: Product, run_id: str) -> list[dict[str, Any]]:
    """The task's log as the UI reads it: one structured entry per line (event, level...)."""
    response = httpx.get(
        product.url(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}/logs/1"),
        params={"full_content": "true"},
        headers={"Authorization": f"Bearer {product.token('pm')}", "Accept": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = [
        e if isinstance(e, dict) else {"event": str(e)} for e in response.json()["content"]
    ]
    return entries


def _log_in(page: Any, product: Product) -> None:
    """Through Airflow's own login form, as the programme manager does."""
    page.goto("/", wait_until="commit")
    username = page.get_by_label("Username")
    username.wait_for()
    username.fill("pm")
    page.get_by_label("Password").fill(product.passwords["pm"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Statutory clock").wait_for()


# The dialog and its accordion slide open: wait until they have (spinners elsewhere on the
# page animate for ever, so those are not waited for).
SETTLED = """() => document.getAnimations().every(
    a => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)"""


def _open_form(page: Any) -> Any:
    page.goto(f"/dags/{DAG}", wait_until="load")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_local_authority").wait_for()
    page.wait_for_function(SETTLED)
    return dialog


def _open_section(page: Any, dialog: Any, name: str) -> None:
    """Open one of the form's closed sections (Airflow then closes the one that was open)."""
    dialog.get_by_role("button", name=name, exact=True).click()
    page.wait_for_function(SETTLED)


def _choose(page: Any, dialog: Any, field: str, option: str) -> None:
    dialog.locator(f"#element_{field}").click()
    page.get_by_role("option", name=option, exact=True).click()


def _trigger(dialog: Any) -> None:
    trigger = dialog.get_by_role("button", name="Trigger")
    assert trigger.is_enabled()
    trigger.click()
    dialog.wait_for(state="hidden")


def test_the_form_opens_calm_and_registers_a_council(
    anonymous_page: Any, product: Product, register: Any
) -> None:
    page = anonymous_page
    _log_in(page, product)
    known = _run_ids(product)
    dialog = _open_form(page)
    screenshot(page, "register-form-empty")

    # Before anything is typed: no error, no "null", and the first fields open and visible.
    text = dialog.inner_text()
    assert "This field is required" not in text, text
    assert "null" not in text.lower().split(), text
    for field in ("local_authority", "dfe_code", "published"):
        assert dialog.locator(f"#element_{field}").is_visible(), field
    for title in ("Local authority", "DfE LA code", "Report published", "Report received"):
        assert dialog.get_by_text(title, exact=True).is_visible(), title
    assert "Inspection of local authority children's services (ILACS)" in text  # the default
    for section in ("Judgements", "Recommendations", "DfE intervention"):
        assert dialog.get_by_role("button", name=section, exact=True).is_visible(), section

    # The rest of the form in one picture, as on a tall screen.
    page.set_viewport_size({"width": 1280, "height": 1800})
    published = today() - timedelta(weeks=3)
    dialog.locator("#element_local_authority").fill(COUNCIL)
    dialog.locator("#element_dfe_code").fill("951")
    dialog.locator("#element_programme_manager_email").fill("pm@exampleton.example")
    dialog.locator("#element_published").fill(published.isoformat())
    screenshot(page, "register-form-filled-council")
    _open_section(page, dialog, "Judgements")
    _choose(page, dialog, "area_help_and_protection", "Inadequate")
    _choose(page, dialog, "area_children_in_care", "Requires improvement")
    _choose(page, dialog, "area_care_leavers", "Good")
    _choose(page, dialog, "area_leadership", "Requires improvement")
    text = dialog.inner_text()
    assert "Not given" in text  # the overall judgement, left empty, is named
    assert "Adequate" not in text  # not an ILACS grade
    screenshot(page, "register-form-filled-judgements")
    _open_section(page, dialog, "Recommendations")
    dialog.locator("#element_recommendations").fill(
        "Within three months | Review every child in need plan\nStrengthen supervision"
    )
    screenshot(page, "register-form-filled")
    assert "This field is required" not in dialog.inner_text()
    _trigger(dialog)

    run = _finished(product, known)
    assert run["state"] == "success", run
    assert run["note"].startswith(f"Registered {COUNCIL_KEY}: {COUNCIL}, "), run["note"]
    assert run["note"].endswith(" milestones"), run["note"]

    view = case_view(register, COUNCIL_KEY)
    assert (view.authority, view.dfe_code, view.framework) == (COUNCIL, "951", "ilacs")
    assert view.published == published
    assert dict(view.judgements) == {
        "help_and_protection": "inadequate",
        "children_in_care": "requires_improvement",
        "care_leavers": "good",
        "leadership": "requires_improvement",
    }
    assert view.timeline, "registered without a statutory clock"
    # Written under the Airflow user who triggered the run, not the DAG's name.
    assert min(view.audit, key=lambda entry: entry.at).actor == "pm", view.audit
    from sqlalchemy.orm import Session

    from statutory_clock.store.reading import get_case

    with Session(register) as session:
        recommendations = [
            (r.number, r.timescale, r.text)
            for r in sorted(get_case(session, COUNCIL_KEY).recommendations, key=lambda r: r.number)
        ]
    assert recommendations == [
        (1, "Within three months", "Review every child in need plan"),
        (2, None, "Strengthen supervision"),
    ]

    page.goto(f"/dags/{DAG}/runs/{run['dag_run_id']}", wait_until="load")
    page.get_by_text(f"Registered {COUNCIL_KEY}").first.wait_for()
    screenshot(page, "register-form-run-registered")


def test_a_refusal_is_one_plain_line_first_in_the_log_and_the_note(
    page: Any, product: Product, register: Any
) -> None:
    """A plausible mistake: an overall judgement for an ILACS report published since 1 April
    2026 (the framework gives key judgements only)."""
    known = _run_ids(product)
    dialog = _open_form(page)
    dialog.locator("#element_local_authority").fill(REFUSED)
    dialog.locator("#element_dfe_code").fill("952")
    dialog.locator("#element_published").fill((today() - timedelta(weeks=2)).isoformat())
    _open_section(page, dialog, "Judgements")
    _choose(page, dialog, "overall_judgement", "Inadequate")
    _trigger(dialog)

    run = _finished(product, known)
    assert run["state"] == "failed", run
    line, _, council = run["note"].partition("\n\n")
    # In the form's terms: the field, the value, and what to do in the form instead.
    assert line == (
        "Not registered: overall_judgement: 'inadequate' is not given for ILACS reports "
        "published from 1 April 2026 (overall effectiveness is not judged): give the key "
        "judgements instead, each in its own field below it"
    ), run["note"]
    assert "\n" not in line and "Traceback" not in line, run["note"]
    assert council == f"Council: {REFUSED}", run["note"]
    assert all(row.dfe_code != "952" for row in _all_cases(register)), "half-registered"

    entries = _task_log(product, run["dag_run_id"])
    log = json.dumps(entries, indent=1)
    assert "Traceback" not in log and 'File \\"' not in log, log
    assert log.count("Not registered") == 1, log
    # The first entry at ERROR level is the refusal itself, said in one line.
    errors = [e for e in entries if str(e.get("level", "")).lower() == "error"]
    assert errors and errors[0]["event"] == line, log

    page.goto(f"/dags/{DAG}/runs/{run['dag_run_id']}/tasks/{TASK}", wait_until="load")
    page.get_by_text("Not registered: overall_judgement").first.wait_for()
    screenshot(page, "register-form-refusal-log")
    page.goto(f"/dags/{DAG}/runs/{run['dag_run_id']}", wait_until="load")
    # The run's page shows the note's first line (cut to its width); the whole note opens
    # with the note's button beside it.
    preview = page.get_by_text("Not registered: overall_judgement").first
    preview.wait_for()
    screenshot(page, "register-form-refusal-run")
    preview.locator("xpath=ancestor::*[.//button][1]").get_by_role("button").last.click()
    page.wait_for_function(SETTLED)
    screenshot(page, "register-form-refusal-note")
    shown = page.get_by_role("dialog")
    shown.wait_for()
    whole = shown.inner_text() + " ".join(
        box.input_value() for box in shown.locator("textarea").all()
    )
    assert line in whole and f"Council: {REFUSED}" in whole, whole


def _all_cases(register: Any) -> list[Any]:
    from tests.e2e.conftest import open_cases

    return open_cases(register, include_closed=True)


def test_the_rest_api_refuses_a_value_the_form_would_not_take(product: Product) -> None:
    """A grade off the ILACS scale through the REST API: refused by the Params' own schema
    (400, naming the field), and no run is made."""
    known = _run_ids(product)
    response = httpx.post(
        product.url(f"/api/v2/dags/{DAG}/dagRuns"),
        json={
            "logical_date": None,
            "conf": {
                "local_authority": REFUSED,
                "dfe_code": "952",
                "published": (today() - timedelta(weeks=2)).isoformat(),
                "area_leadership": "adequate",
            },
        },
        headers={"Authorization": f"Bearer {product.token('pm')}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "area_leadership" in response.text, response.text
    assert _run_ids(product) == known
