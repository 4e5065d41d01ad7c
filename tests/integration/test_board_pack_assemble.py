"""Board packs assembled from the real register (SQLite and PostgreSQL), rendered and archived."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from statutory_clock.board_pack.assemble import (
    PackError,
    PackJob,
    ad_hoc_job,
    build_snapshot,
    due_packs,
    make_pack,
)
from statutory_clock.board_pack.snapshot import RagCounts, Snapshot
from statutory_clock.store import db, register
from statutory_clock.store.models import BoardPack, Inspection, ReminderLedger
from tests.seeds import seed_as_it_stood

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
AS_OF = date(2017, 12, 7)  # the fifth working day of December 2017
NOVEMBER = PackJob("croydon-2017", date(2017, 11, 1), date(2017, 11, 30), "November 2017", None)


@pytest.fixture
def demo(register_engine):
    """The demo councils as they stood in November 2017: open, whatever their case files say of
    later years (a case closed since would get no packs), save those a later inspection in the
    portfolio supersedes as it is registered."""
    with db.transaction(register_engine) as session:
        for path in DEMO:
            register.import_case(session, seed_as_it_stood(path), "tester", date(2017, 11, 1))
    return register_engine


def test_packs_fall_due_on_the_fifth_working_day(demo):
    with db.transaction(demo) as session:
        assert due_packs(session, date(2017, 12, 6)) == []  # the fourth working day
        jobs = due_packs(session, AS_OF)
        closed = set(session.scalars(select(Inspection.key).where(Inspection.open.is_(False))))
    # A closed case gets no packs: bromley-2010 closed when bromley-2016 was registered.
    assert "bromley-2010" in closed
    assert {j.case_key for j in jobs} == {p.stem for p in DEMO} - closed
    assert {(j.period_start, j.period_end, j.period_label) for j in jobs} == {
        (date(2017, 11, 1), date(2017, 11, 30), "November 2017")
    }


def test_snapshot_matches_the_register(demo):
    with db.transaction(demo) as session:
        register.update_action(session, "tower-hamlets-2017", 1, "pm", AS_OF, status="red")
        register.update_action(session, "tower-hamlets-2017", 2, "pm", AS_OF, status="amber")
        register.update_action(session, "tower-hamlets-2017", 3, "pm", AS_OF, status="amber")
    with db.transaction(demo) as session:
        croydon = build_snapshot(session, NOVEMBER, AS_OF, 1, datetime.now(UTC))
        job = PackJob(
            "tower-hamlets-2017", NOVEMBER.period_start, NOVEMBER.period_end, "November 2017", None
        )
        towers = build_snapshot(session, job, AS_OF, 1, datetime.now(UTC))
        statuses = Counter(m.status for m in register.get_case(session, "croydon-2017").milestones)
    deadline = croydon.headline.next_deadline
    assert deadline is not None
    assert (deadline.id, deadline.due) == ("written_statement_of_action", date(2017, 12, 11))
    assert deadline.working_days_left == 2
    overdue = [m.id for m in croydon.milestones if m.status == "overdue"]
    assert croydon.headline.overdue_count == len(overdue) == 1  # the report: the council's
    # The planning visit is Ofsted's act: past its date with none on file, it is to record.
    unrecorded = [m.id for m in croydon.milestones if m.status == "not_recorded"]
    assert unrecorded == ["action_planning_visit"] and croydon.headline.not_recorded_count == 1
    assert {m.id for m in croydon.overdue_and_missed} == set(overdue)
    assert all(AS_OF <= m.due <= date(2018, 3, 7) for m in croydon.next_90_days)
    assert sum(statuses.values()) == len(croydon.milestones)
    assert croydon.intervention is None or croydon.intervention.commissioner
    assert {r.rule for r in croydon.rules_appendix} == {m.rule for m in croydon.milestones}
    assert towers.rag_totals == RagCounts(red=1, amber=2, green=0, complete=0, not_rated=12)
    assert len(towers.actions) == 15
    # Plain JSON at the edge, read back as it was written.
    for snapshot in (croydon, towers):
        text = snapshot.to_json()
        assert json.loads(text)["as_of"] == "2017-12-07"
        assert Snapshot.from_json(text) == snapshot


def _pages_are_not_blank(pdf: Path, tmp_path: Path) -> int:
    assert shutil.which("pdftoppm"), "poppler-utils is needed (./test.sh installs it)"
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    for page in pages:
        image = Image.open(page).convert("L")
        dark = sum(image.histogram()[:200])  # pixels darker than light grey
        assert dark > 500, f"{page.name} looks blank ({dark} dark pixels)"
    return len(pages)


def test_archive_versions_and_never_overwrites(demo, tmp_path):
    packs = tmp_path / "packs"
    first = make_pack(demo, NOVEMBER, AS_OF, packs, "tester", "pm@council.example")
    with db.transaction(demo) as session:  # a fact changes between the two runs
        register.record_event(
            session, "croydon-2017", "publish_report", date(2017, 10, 13), "pm", AS_OF
        )
    second = make_pack(demo, NOVEMBER, AS_OF, packs, "tester", "pm@council.example")
    assert (first["version"], second["version"]) == (1, 2)
    assert first["pdf"] != second["pdf"]
    for made in (first, second):
        pdf = Path(made["pdf"])
        assert hashlib.sha256(pdf.read_bytes()).hexdigest() == made["sha256"]
    v2 = Snapshot.from_json((Path(second["pdf"]).parent / "snapshot.json").read_text())
    assert v2.version == 2
    assert v2.changes_since_previous.previous_version_date == AS_OF  # read back from v1
    assert (
        "Publish the inspection report (partners, safeguarding partners, local press and "
        "radio)" in v2.changes_since_previous.completed
    )
    with db.transaction(demo) as session:
        rows = session.execute(select(BoardPack.version, BoardPack.sha256)).all()
        ledger = session.execute(
            select(ReminderLedger.item, ReminderLedger.due_version, ReminderLedger.state)
        ).all()
    assert sorted(v for v, _ in rows) == [1, 2]
    assert sorted(ledger) == [
        ("board_pack:November 2017", 1, "pending"),
        ("board_pack:November 2017", 2, "pending"),
    ]
    reader = PdfReader(second["pdf"])
    assert 3 <= len(reader.pages) < 40
    # Words only: where a table cell wraps a date is layout, not content.
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "London Borough of Croydon" in text and "Monday 11 December 2017" in text
    assert _pages_are_not_blank(Path(second["pdf"]), tmp_path) == len(reader.pages)


def test_ad_hoc_job_validation(demo):
    with db.transaction(demo) as session:
        job = ad_hoc_job(session, {"case_key": "croydon-2017"}, AS_OF)
        assert (job.period_start, job.period_end) == (date(2017, 12, 1), AS_OF)
        with pytest.raises(PackError, match="period_end: 2017-10-01 is before"):
            ad_hoc_job(
                session,
                {
                    "case_key": "croydon-2017",
                    "period_start": "2017-11-01",
                    "period_end": "2017-10-01",
                },
                AS_OF,
            )
        with pytest.raises(register.RegisterError, match="case: 'nowhere'"):
            ad_hoc_job(session, {"case_key": "nowhere"}, AS_OF)
