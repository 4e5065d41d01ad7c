"""The board_pack DAG end to end: dag.test() against a real register and a real SMTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from devtools.mailcatcher import MailCatcher
from statutory_clock.board_pack import Snapshot
from statutory_clock.store import db, register
from statutory_clock.store.models import BoardPack, Inspection
from tests.dags.airflow_runner import run_dag_test
from tests.seeds import seed_as_it_stood

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
FIFTH_WORKING_DAY = "2017-12-07T06:30:00+00:00"


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail") as catcher:
        yield catcher


def test_board_packs_are_made_archived_and_sent_once(register_url, mail, tmp_path):
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        for path in DEMO:
            register.import_case(session, seed_as_it_stood(path), "tester", date(2017, 11, 1))
        # A closed case (bromley-2010, superseded by bromley-2016) gets no pack.
        live = len(session.execute(select(Inspection.key).where(Inspection.open)).all())
    assert 0 < live < len(DEMO)
    packs = tmp_path / "packs"
    env = {
        "STATCLOCK_DATABASE_URL": register_url,
        "STATCLOCK_PACKS_DIR": str(packs),
        "STATCLOCK_PROGRAMME_MANAGER": "pm@council.example",
        "AIRFLOW_CONN_STATCLOCK_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": mail.port,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "statclock@council.example",
                },
            }
        ),
    }
    run = run_dag_test("board_pack", env, logical_date=FIFTH_WORKING_DAY, home=tmp_path)
    assert run.state == "success", run.tail()
    assert run.tasks["plan_packs"] == "success" and run.tasks["send_packs"] == "success"
    assert (
        sum(1 for t, s in run.tasks.items() if t.startswith("make_pack[") and s == "success")
        == live
    )
    messages = mail.messages()
    assert len(messages) == live
    croydon = next(m for m in messages if "London Borough of Croydon" in m["Subject"])
    assert "November 2017" in croydon["Subject"] and croydon["To"] == "pm@council.example"
    pdf = next(p for p in croydon.iter_attachments() if p.get_content_type() == "application/pdf")
    attached = tmp_path / "attached.pdf"
    attached.write_bytes(pdf.get_content())
    reader = PdfReader(attached)
    assert 3 <= len(reader.pages) < 40
    words = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "Monday 11 December 2017" in words  # a table cell may wrap it: compare words
    assert "Statutory timeline" in croydon.get_body(("html",)).get_content()
    with db.transaction(engine) as session:
        archived = session.execute(select(BoardPack.period_label, BoardPack.version)).all()
        snapshots = session.scalars(select(BoardPack.snapshot_path)).all()
    assert sorted(archived) == [("November 2017", 1)] * live
    # Each archived snapshot.json reads back as the typed snapshot the pack was drawn from.
    for path in snapshots:
        text = Path(path).read_text(encoding="utf-8")
        snapshot = Snapshot.from_json(text)
        assert snapshot.to_json() == text and snapshot.period.label == "November 2017"

    # The same day again: nothing new is made or sent.
    again = run_dag_test("board_pack", env, logical_date=FIFTH_WORKING_DAY, home=tmp_path)
    assert again.state == "success", again.tail()
    assert again.xcom["plan_packs"] == [] and again.xcom["send_packs"] == 0
    assert len(mail.messages()) == live

    # An ad-hoc pack for one council: a new archive entry and one email.
    adhoc = run_dag_test(
        "board_pack",
        env,
        logical_date=FIFTH_WORKING_DAY,
        home=tmp_path,
        conf={
            "case_key": "croydon-2017",
            "period_start": "2017-12-01",
            "period_end": "2017-12-07",
            "meeting_date": "2017-12-14",
        },
    )
    assert adhoc.state == "success", adhoc.tail()
    latest = mail.messages()[-1]
    assert "meeting on Thursday 14 December 2017" in latest["Subject"]
    assert len(mail.messages()) == live + 1
    engine.dispose()
