"""The typed case document is the case file exactly: every demo case file and every live-demo
document goes through ``CaseDocument.from_dict``/``to_dict`` and ``dump_case_file`` unchanged,
keys in the canonical order. (Exports: tests/integration/test_case_document.py.)"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import date
from pathlib import Path

import pytest

from statutory_clock.live_demo import live_portfolio
from statutory_clock.store.case_document import CaseDocument, Event, Month
from statutory_clock.store.casefile import dump_case_file, load_case_file, parse_case_text

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
DAYS = [date(2026, 11, 30), date(2026, 12, 5), date(2027, 1, 4), date(2027, 8, 31)]


def _keys(value: object) -> object:
    """The document's shape with its key order, which dict equality ignores."""
    if isinstance(value, dict):
        return [(k, _keys(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return value


def assert_round_trips(doc: CaseDocument) -> None:
    raw = doc.to_dict()
    again = CaseDocument.from_dict(raw)
    assert again == doc
    assert _keys(again.to_dict()) == _keys(raw)
    text = dump_case_file(doc)
    assert dump_case_file(again) == text
    # The text read back is the same document, and writes the same bytes.
    parsed = parse_case_text(text, "again.yaml")
    assert parsed == doc
    assert dump_case_file(parsed) == text


@pytest.mark.parametrize("path", DEMO, ids=lambda p: p.stem)
def test_every_demo_case_file_round_trips_exactly(path):
    doc = load_case_file(path)
    assert doc.key == path.stem
    assert_round_trips(doc)


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_every_live_demo_document_round_trips_exactly(today):
    cases = live_portfolio(today)
    assert cases
    for case in cases:
        assert case.document.key == case.key
        assert_round_trips(case.document)


def test_months_and_dates_keep_their_types():
    croydon = load_case_file(next(p for p in DEMO if p.stem == "croydon-2017"))
    assert isinstance(croydon.inspection.published, date)
    month = replace(croydon, inspection=replace(croydon.inspection, published=Month("2017-09")))
    assert month.to_dict()["inspection"]["published"] == {"month": "2017-09"}
    assert "published:\n    month: 2017-09" in dump_case_file(month).replace("'", "")
    event = Event("action_planning_visit", Month("2017-10"), None, "pm")
    assert event.to_dict() == {
        "milestone": "action_planning_visit",
        "month": "2017-10",
        "note": None,
        "recorded_by": "pm",
    }
    assert Event.from_dict(event.to_dict()) == event
    with pytest.raises(FrozenInstanceError):
        croydon.notes = "edited"  # type: ignore[misc]
