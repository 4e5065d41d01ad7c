"""Regenerate the board-pack golden snapshot the tests and benchmarks read, through the real code.

    .venv/bin/python scripts/regenerate_pack_fixture.py           # rewrite the fixture
    .venv/bin/python scripts/regenerate_pack_fixture.py --check   # exit 1 if it would change

The fixture is what the product makes, not what someone wrote by hand: a demo case file
(`include/demo/tower-hamlets-2017.yaml`, seed 003) is imported into a throw-away SQLite register,
facts are recorded through the register's own commands, and the board-pack snapshot builder
(`board_pack.assemble.build_snapshot`) writes the November 2017 monthly pack's snapshot, compared
with the October pack's, as the archive stores it (`snapshot.json`). Regenerate it on purpose
whenever the snapshot, the rules or the case file change, and review the difference; a test
(tests/unit/test_board_pack_fixture.py) fails while the committed file differs from what the
code makes now.

The case is taken as it stood in 2017: open, whatever its lifecycle says today. The facts below
are illustrative, recorded so that every part of a pack has something to show (met, missed,
waived and overdue items, RAG ratings and their changes, progress notes, a visit's findings,
moved and completed milestones). They are not from the seed, which gives none of them; where
the case file itself records the date of an event, that date stands and the illustrative one is
not recorded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statutory_clock.board_pack.snapshot import Snapshot

REPO = Path(__file__).resolve().parents[1]
CASE_FILE = REPO / "include" / "demo" / "tower-hamlets-2017.yaml"
FIXTURE = REPO / "tests" / "fixtures" / "board_pack" / "tower-hamlets-2017-november-2017.json"
KEY = "tower-hamlets-2017"
ACTOR = "fixture"


@dataclass(frozen=True)
class Fact:
    """One thing a person records, on the day they record it."""

    recorded: date
    command: str  # "event", "action" or "waive"
    args: tuple[Any, ...]
    note: str | None = None


# Before the October pack (made on Tuesday 7 November 2017).
EARLY = (
    Fact(
        date(2017, 5, 22),
        "event",
        ("publish_report", date(2017, 5, 19)),
        "Published on the council's website and sent to partners and the local press.",
    ),
    Fact(
        date(2017, 5, 11),
        "event",
        ("action_planning_visit", date(2017, 5, 10)),
        "Held with the lead inspector; the early draft plan was shared the week before.",
    ),
    Fact(
        date(2017, 7, 25),
        "event",
        ("written_statement_of_action", date(2017, 7, 24)),
        "Submitted after Cabinet sign-off on 19 July; two working days late.",
    ),
    Fact(
        date(2017, 10, 16),
        "action",
        (1, "amber", date(2017, 10, 16)),
        "Back to basics training: 120 of 180 social workers and managers trained.",
    ),
    Fact(
        date(2017, 10, 16),
        "action",
        (2, "amber", date(2017, 10, 16)),
        "Threshold guidance reissued; audit of 40 contacts under way.",
    ),
    Fact(
        date(2017, 10, 16),
        "action",
        (9, "red", date(2017, 10, 16)),
        "Sufficiency strategy delayed: commissioning lead post vacant.",
    ),
    Fact(
        date(2017, 10, 16),
        "action",
        (15, "green", date(2017, 10, 16)),
        "Workforce strategy agreed; agency staff down from 32% to 24%.",
    ),
)
# Between the October pack and the November pack (made on Thursday 7 December 2017).
LATER = (
    Fact(
        date(2017, 11, 20),
        "event",
        ("first_monitoring_visit", date(2017, 8, 15)),
        "Letter published 14 September: leaders understand the scale of the task; "
        "progress in the front door is too slow.",
    ),
    Fact(
        date(2017, 11, 20),
        "waive",
        ("monitoring_audits_due_2",),
        "Ofsted asked for no case audits before the second visit.",
    ),
    Fact(
        date(2017, 11, 24),
        "action",
        (1, "green", date(2017, 11, 24)),
        "All 180 staff trained; compliance audit shows 85% of plans to standard.",
    ),
    Fact(
        date(2017, 11, 24),
        "action",
        (3, "amber", date(2017, 11, 24)),
        "Police attendance at strategy discussions now 78%, up from 55%.",
    ),
)
IMPORTED = date(2017, 4, 10)
OCTOBER = (date(2017, 10, 1), date(2017, 10, 31), "October 2017", date(2017, 11, 7))
NOVEMBER = (date(2017, 11, 1), date(2017, 11, 30), "November 2017", date(2017, 12, 7))


def _record(session: Any, fact: Fact, on_file: set[str]) -> None:
    from statutory_clock.store import register

    if fact.command == "event":
        milestone, day = fact.args
        if milestone in on_file:
            return  # the case file's own date stands
        register.record_event(session, KEY, milestone, day, ACTOR, fact.recorded, note=fact.note)
    elif fact.command == "action":
        position, status, noted = fact.args
        register.update_action(
            session, KEY, position, ACTOR, fact.recorded, status=status, note=fact.note,
            note_date=noted,
        )  # fmt: skip
    elif fact.command == "waive":
        (milestone,) = fact.args
        register.adjust_milestone(
            session, KEY, milestone, ACTOR, fact.recorded, reason=fact.note or "",
            agreed_by="Ofsted lead inspector", waive=True,
        )  # fmt: skip
    else:  # pragma: no cover - the facts above are the only ones
        raise ValueError(f"command: {fact.command!r} is not event, action or waive")


def _snapshot(
    session: Any, period: tuple[date, date, str, date], previous: Snapshot | None
) -> Snapshot:
    from statutory_clock.board_pack.assemble import PackJob, build_snapshot

    start, end, label, made_on = period
    job = PackJob(KEY, start, end, label, None)
    made_at = datetime(made_on.year, made_on.month, made_on.day, 7, 0, tzinfo=UTC)
    return build_snapshot(session, job, made_on, 1, made_at, previous)


def generate() -> str:
    """The fixture's text: the November 2017 snapshot, as `archive_pack` writes snapshot.json."""
    from statutory_clock.board_pack.snapshot import Snapshot
    from statutory_clock.store import db, register
    from statutory_clock.store.casefile import load_case_file

    doc = replace(load_case_file(CASE_FILE), lifecycle=None)  # open, as it was in 2017
    on_file = {event.milestone for event in doc.inspection.events}
    with tempfile.TemporaryDirectory(prefix="statclock-fixture-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'register.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        try:
            with db.transaction(engine) as session:
                register.import_case(session, doc, ACTOR, IMPORTED)
            for fact in EARLY:
                with db.transaction(engine) as session:
                    _record(session, fact, on_file)
            with db.transaction(engine) as session:
                october = _snapshot(session, OCTOBER, None)
            # A pack made from the archived JSON, as the DAG does (previous_snapshot reads it).
            october = Snapshot.from_json(october.to_json())
            for fact in LATER:
                with db.transaction(engine) as session:
                    _record(session, fact, on_file)
            with db.transaction(engine) as session:
                november = _snapshot(session, NOVEMBER, october)
        finally:
            engine.dispose()
    return november.to_json() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the fixture would change")
    args = parser.parse_args(argv)
    text = generate()
    current = FIXTURE.read_text(encoding="utf-8") if FIXTURE.exists() else None
    if args.check:
        if text != current:
            print(f"{FIXTURE.relative_to(REPO)} is out of date: run {Path(__file__).name}")
            return 1
        print(f"{FIXTURE.relative_to(REPO)} is up to date")
        return 0
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(text, encoding="utf-8")
    print(f"{'unchanged' if text == current else 'wrote'} {FIXTURE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "include"))
    raise SystemExit(main())
