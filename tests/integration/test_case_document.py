"""Every export round-trips exactly through the typed case document: the register's canonical
output, as ``CaseDocument``, gives the same ``to_dict`` key order and the same bytes after
``from_dict``, and reads back (``parse_case_text``) as itself."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from statutory_clock.live_demo import live_portfolio
from statutory_clock.store import db, register
from statutory_clock.store.casefile import load_case_file
from statutory_clock.store.models import Inspection
from tests.unit.test_case_document import assert_round_trips

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
TODAY = date(2026, 11, 30)


def test_every_export_round_trips_exactly(register_engine):
    files = [load_case_file(path) for path in DEMO]
    live = [case.document for case in live_portfolio(TODAY)]
    with db.transaction(register_engine) as session:
        for doc in files + live:
            register.import_case(session, doc, "tester", TODAY)
    with db.transaction(register_engine) as session:
        keys = sorted(session.scalars(select(Inspection.key)))
        assert keys == sorted(str(doc.key) for doc in files + live)
        for key in keys:
            exported = register.export_case(register.get_case(session, key))
            assert exported.key == key
            assert_round_trips(exported)
