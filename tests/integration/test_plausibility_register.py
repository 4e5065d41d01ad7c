"""The register applies the engine's plausibility checks (issue 13, item 7): an impossible fact
is refused on import and on a recorded event, changing nothing; `statclock case import` and
`case event` print the unusual ones as warnings on stderr."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from statutory_clock.store import db, register
from statutory_clock.store.case_document import Intervention
from statutory_clock.store.casefile import dump_case_file
from statutory_clock.store.models import AuditEvent
from tests.seeds import seed_as_it_stood

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
CROYDON = DEMO / "croydon-2017.yaml"
AS_OF = date(2018, 6, 1)
STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))


def _audit_rows(engine) -> int:
    with db.transaction(engine) as session:
        return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def test_a_visit_recorded_out_of_order_is_refused_and_changes_nothing(register_engine):
    with db.transaction(register_engine) as session:
        register.import_case(session, seed_as_it_stood(CROYDON), "tester", AS_OF)
        register.record_event(
            session, "croydon-2017", "monitoring_visit_2", date(2018, 5, 1), "pm", AS_OF
        )
    before = _audit_rows(register_engine)
    with pytest.raises(register.RegisterError) as caught, db.transaction(register_engine) as s:
        register.record_event(
            s, "croydon-2017", "first_monitoring_visit", date(2018, 5, 2), "pm", AS_OF
        )
    assert caught.value.field == "event monitoring_visit_2"
    assert "is before first_monitoring_visit (2018-05-02)" in str(caught.value)
    assert _audit_rows(register_engine) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"received": date(2016, 8, 1)}, "received"),
        ({"direction": date(2017, 1, 2)}, "direction"),
    ],
    ids=["receipt-a-year-early", "direction-before-report"],
)
def test_an_impossible_case_file_is_refused_on_import(register_engine, change, field):
    seed = seed_as_it_stood(CROYDON)
    if "direction" in change:
        intervention = seed.intervention or Intervention()
        doc = dataclasses.replace(
            seed, intervention=dataclasses.replace(intervention, direction=change["direction"])
        )
    else:
        doc = dataclasses.replace(seed, inspection=dataclasses.replace(seed.inspection, **change))
    with pytest.raises(register.RegisterError) as caught, db.transaction(register_engine) as s:
        register.import_case(s, doc, "tester", AS_OF)
    assert caught.value.field == field
    assert _audit_rows(register_engine) == 0


def test_case_import_prints_warnings_on_stderr(tmp_path, sqlite_register_url):
    assert STATCLOCK
    seed = seed_as_it_stood(CROYDON)
    saturday = dataclasses.replace(
        seed, inspection=dataclasses.replace(seed.inspection, published=date(2017, 9, 2))
    )
    path = tmp_path / "croydon.yaml"
    path.write_text(dump_case_file(saturday), encoding="utf-8")
    env = {**os.environ, "STATCLOCK_DATABASE_URL": sqlite_register_url}
    result = subprocess.run(
        [STATCLOCK, "case", "import", str(path), "--as-of", "2017-10-02"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Imported croydon-2017" in result.stdout
    assert result.stderr.splitlines() == [
        "statclock case import: warning: croydon-2017: published: 2017-09-02 is a Saturday: "
        "Ofsted publishes reports on working days; check the date"
    ]
