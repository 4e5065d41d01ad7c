"""The five seed councils as their clocks ran (2010-2018), for tests that replay those years.

The demo case files record what happened afterwards too: each seed case is closed, superseded by
the council's next inspection. A test that replays a seed case as of 2017 wants it as it stood
then, open; this gives the same validated document without its lifecycle block.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from statutory_clock.store import register
from statutory_clock.store.case_document import CaseDocument
from statutory_clock.store.casefile import dump_case_file, load_case_file

DEMO_DIR = Path(__file__).resolve().parents[1] / "include" / "demo"
SEED_FILES = sorted(DEMO_DIR.glob("*.yaml"))
BARBARA = "barbara.peacock@croydon.gov.uk"


def seed_as_it_stood(path: Path) -> CaseDocument:
    """The seed case file's document, open (no lifecycle), as it was before its closing."""
    return replace(load_case_file(path), lifecycle=None)


def write_seeds_as_they_stood(folder: Path) -> Path:
    """Copies of the seed case files without their lifecycle, for `statclock demo load` with
    STATCLOCK_DEMO_DIR pointing at ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in SEED_FILES:
        (folder / path.name).write_text(dump_case_file(seed_as_it_stood(path)), encoding="utf-8")
    return folder


def barbara_owns_two_croydon_deadlines(session: Session) -> None:
    """In an imported croydon-2017: Barbara Peacock, given an address, owns the written
    statement of action and the first monitoring visit, so on Wednesday 6 December 2017 she
    has two reminders (due in 3 and in 20 working days): the digest tests' day."""
    croydon = register.get_case(session, "croydon-2017")
    next(c for c in croydon.contacts if c.name == "Barbara Peacock").email = BARBARA
    for m in croydon.milestones:
        if m.milestone_id in ("written_statement_of_action", "first_monitoring_visit"):
            m.owner = "Barbara Peacock"
