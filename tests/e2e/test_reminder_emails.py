"""Reminder emails as a person sees them: the HTML part of real emails, in headless Chromium.

The emails are the ones statclock sends: decided and sent from a register holding the demo
councils (the seed files the other tests use, as they stood on 1 November 2017) through the
mail catcher, then read back from its files. Each is shown at a desktop mail client's width
(600px) and a phone's (360px), saved as a PNG under var/screenshots/emails/, and checked for
what the browser shows: the due date, the link to the council's page, no sideways scrolling.

Needs only the ``browser`` fixture (tests/e2e/conftest.py), not the running product.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from devtools.mailcatcher import MailCatcher
from statutory_clock.reminders import load_policy
from statutory_clock.store import db, register
from statutory_clock.store.contacts import set_reminders
from statutory_clock.store.outbox import plan_reminders, send_pending
from tests.e2e.conftest import SCREENSHOTS
from tests.seeds import BARBARA, barbara_owns_two_croydon_deadlines, seed_as_it_stood

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
SHOTS = SCREENSHOTS / "emails"
PM = "programme.manager@council.example"
BASE = "https://airflow.council.example"
DAY = date(2017, 12, 6)  # a Wednesday with three reminders due (tests/integration)
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
LONG_WORD = "Safeguarding" * 30  # one unbroken 360-character word, as a careless import gives


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EmailMessage]]:
    """The emails of 6 December 2017: Barbara Peacock's digest, and single reminders."""
    home = tmp_path_factory.mktemp("emails")
    url = f"sqlite:///{home / 'register.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.transaction(engine) as session:
        for name in ("croydon-2017", "tower-hamlets-2017"):
            register.import_case(
                session, seed_as_it_stood(DEMO / f"{name}.yaml"), "tester", date(2017, 11, 1)
            )
        barbara_owns_two_croydon_deadlines(session)
        tower = register.get_case(session, "tower-hamlets-2017")
        audits = next(m for m in tower.milestones if m.milestone_id == "monitoring_audits_due_2")
        audits.title = f"Return the case audits: {LONG_WORD}"  # no space for the phone to wrap at
    with db.transaction(engine) as session:
        set_reminders(session, "croydon-2017", "Barbara Peacock", "daily digest", "pm")
        plan_reminders(session, DAY, load_policy(), PM)
    with MailCatcher(home / "mail") as mail:
        with smtplib.SMTP("127.0.0.1", mail.port, timeout=10) as client:
            send_pending(engine, client.send_message, "statclock@council.example", base_url=BASE)
        messages = mail.messages()
    engine.dispose()
    digest = next(m for m in messages if m["To"] == BARBARA)
    overdue = next(m for m in messages if m["To"] == PM)
    yield {"digest": digest, "overdue": overdue}


def show(browser: Any, message: EmailMessage, name: str, width: int) -> Any:
    """The email's HTML part in a fresh page ``width`` pixels wide, saved as a PNG."""
    html = message.get_body(("html",)).get_content()
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.set_content(html, wait_until="load")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}px.png"), full_page=True)
    return page


def no_sideways_scrolling(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("width", [600, 360])
def test_a_digest_reads_well_on_a_desktop_and_on_a_phone(browser, sent, width):
    digest = sent["digest"]
    assert len(digest["Subject"]) < 80
    page = show(browser, digest, "digest", width)
    try:
        shown = page.inner_text("body")
        assert shown.startswith("statclock\n")  # the banner: the service's name, no crown
        assert "2 statutory deadlines to act on" in shown
        assert "Due Monday 11 December 2017" in shown  # the statement of action
        assert "Due Monday 8 January 2018" in shown  # the first monitoring visit
        assert "Barbara Peacock" in shown and BARBARA in shown
        assert not ISO_DATE.search(shown), ISO_DATE.search(shown)
        links = page.eval_on_selector_all("a", "links => links.map(a => a.href)")
        assert links == [f"{BASE}/statclock/councils/croydon-2017"] * 2
        assert no_sideways_scrolling(page)
        assert page.evaluate("document.images.length") == 0  # nothing fetched from anywhere
    finally:
        page.close()


@pytest.mark.parametrize("width", [600, 360])
def test_an_overdue_reminder_with_a_long_word_still_fits_a_phone(browser, sent, width):
    overdue = sent["overdue"]
    assert overdue["Subject"].startswith("Overdue by ") and len(overdue["Subject"]) < 80
    page = show(browser, overdue, "overdue", width)
    try:
        shown = page.inner_text("body")
        assert "Overdue by " in shown and "Was due Tuesday 14 November 2017" in shown
        assert "London Borough of Tower Hamlets, case tower-hamlets-2017" in shown
        assert "statclock case event tower-hamlets-2017 monitoring_audits_due_2" in shown
        assert not ISO_DATE.search(shown)
        (link,) = page.eval_on_selector_all("a", "links => links.map(a => a.href)")
        assert link == f"{BASE}/statclock/councils/tower-hamlets-2017"
        assert no_sideways_scrolling(page)
        # The due date stands out: in the grey-bordered inset, larger than the text around it.
        lead = page.locator('td[style*="border-left"] p').first
        assert lead.inner_text().startswith("Was due ")
        size = "e => parseFloat(getComputedStyle(e).fontSize)"
        assert lead.evaluate(size) == 24 and page.locator("p").first.evaluate(size) == 19
    finally:
        page.close()
