"""The five seed councils are faithful, closed history: every recorded date cites its seed, and
each case is closed where the seeds or later facts say so (issue 11, item 3)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from statutory_clock.store.casefile import day_of

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
FILES = sorted(DEMO.glob("*.yaml"))


def _raw(path: Path) -> dict:
    # The plain loader, as any other YAML tool would read the file.
    doc: dict = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_recorded_date_cites_its_seed(path):
    doc = _raw(path)
    seeds = {s["seed"][:3] for s in doc["sources"] if s.get("seed")}
    for event in doc["inspection"]["events"]:
        cited = re.match(r"Seed (\d{3}), para [\d.]+: ", event["note"] or "")
        assert cited and cited.group(1) in seeds, (path.stem, event["milestone"])


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_seed_case_is_closed_with_its_reason(path):
    doc = _raw(path)
    lifecycle = doc.get("lifecycle")
    if path.stem == "bromley-2010":
        # superseded automatically when Bromley 2016 (same DfE code, later) is imported after it
        later = _raw(DEMO / "bromley-2016.yaml")
        assert lifecycle is None
        assert later["local_authority"]["dfe_code"] == doc["local_authority"]["dfe_code"]
        assert later["inspection"]["published"] > doc["inspection"]["published"]
        return
    assert set(lifecycle) == {"state", "reason", "closed_on", "by", "note", "superseded_by"}
    assert (lifecycle["state"], lifecycle["reason"]) == ("closed", "superseded")
    published = day_of(doc["inspection"]["published"])
    assert isinstance(lifecycle["closed_on"], date) and lifecycle["closed_on"] > published
    assert (
        lifecycle["superseded_by"] == f"{path.stem.rsplit('-', 1)[0]}-{lifecycle['closed_on'].year}"
    )
    assert "Not in the seed" in lifecycle["note"] and "http" in lifecycle["note"]  # cited
