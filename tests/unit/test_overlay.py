"""Local overrides (issue 13, item 8): an operator's rules overlay may change a rule's unit,
offset or window, nothing else; every milestone of a changed rule says so in its basis line."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statutory_clock.cli import main
from statutory_clock.engine import CaseFacts, ClockBuilder, compute_clock
from statutory_clock.rules import bundled_rulebooks, judgements, load_rulebooks
from statutory_clock.rules.overlay import (
    OverlayError,
    apply_overlay,
    overlay_in_force,
    read_overlay,
)

CALENDAR_DAYS = """\
notes: Our reading of "25 to 35 days", agreed with the link inspector.
overrides:
  sif.action_planning_visit:
    unit: calendar_days
    offset: 35
    window: {start_offset: 25}
"""
# Bromley 2016 (seed 000): published 27 June, action planning meeting 26 July
BROMLEY = CaseFacts("sif", date(2016, 6, 27), judgements={"overall": "inadequate"})


@pytest.fixture
def overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(text: str) -> Path:
        path = tmp_path / "overlay.yaml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("STATCLOCK_RULES_OVERLAY", str(path))
        return path

    return write


def test_an_overlay_changes_the_unit_and_says_so_in_the_basis(overlay):
    bundled = compute_clock(BROMLEY).by_id()
    path = overlay(CALENDAR_DAYS)
    clock = compute_clock(BROMLEY).by_id()
    visit = clock["action_planning_visit"]
    assert (visit.window_start, visit.due) == (date(2016, 7, 22), date(2016, 8, 1))
    assert visit.window_start <= date(2016, 7, 26) <= visit.due  # the observed meeting
    assert visit.basis == (
        "between 25 and 35 calendar days after 2016-06-27 (publication) "
        f"(local override: 25 to 35 calendar days instead of 25 to 35 working days, {path})"
    )
    for mid, milestone in clock.items():  # nothing else changes, nothing else says so
        if mid != "action_planning_visit":
            assert milestone == bundled[mid]
            assert "local override" not in milestone.basis
    assert visit.source == bundled["action_planning_visit"].source
    assert visit.confidence == bundled["action_planning_visit"].confidence


def test_unsetting_the_overlay_restores_the_bundled_rules(overlay, monkeypatch):
    bundled = compute_clock(BROMLEY)
    overlay(CALENDAR_DAYS)
    assert compute_clock(BROMLEY) != bundled
    monkeypatch.delenv("STATCLOCK_RULES_OVERLAY")
    assert compute_clock(BROMLEY) == bundled
    assert load_rulebooks() is bundled_rulebooks()


def test_an_edited_overlay_takes_effect_at_once(overlay):
    overlay(CALENDAR_DAYS)
    assert compute_clock(BROMLEY).by_id()["action_planning_visit"].due == date(2016, 8, 1)
    overlay(CALENDAR_DAYS.replace("offset: 35", "offset: 30"))
    assert compute_clock(BROMLEY).by_id()["action_planning_visit"].due == date(2016, 7, 27)


def test_every_milestone_of_a_changed_series_says_local_override(overlay):
    overlay("overrides:\n  sif.monitoring_visit: {offset: 4}\n")
    clock = compute_clock(BROMLEY)
    visits = [m for m in clock.milestones if m.rule == "sif.monitoring_visit"]
    assert len(visits) >= 2
    assert all("(local override: 4 months instead of 3 months, " in m.basis for m in visits)
    first = clock.by_id()["first_monitoring_visit"]
    assert "local override" not in first.basis
    # the first occurrence is 4 months after the first visit; later ones recur as before
    assert visits[0].due.month == (first.due.month + 4 - 1) % 12 + 1


def test_a_window_can_be_removed(overlay):
    overlay("overrides:\n  sif.action_planning_visit: {window: null}\n")
    visit = compute_clock(BROMLEY).by_id()["action_planning_visit"]
    assert visit.window_start is None
    assert "local override: 35 working days instead of 25 to 35 working days" in visit.basis


def test_statclock_rules_and_clock_show_the_override(overlay, capsys):
    path = overlay(CALENDAR_DAYS)
    assert main(["rules", "--framework", "sif"]) == 0
    listing = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(listing) if "action_planning_visit" in line)
    assert "calendar_days" in listing[at]
    assert listing[at + 2].strip() == (
        f"local override: 25 to 35 calendar days instead of 25 to 35 working days, {path}"
    )
    assert sum("local override" in line for line in listing) == 1
    args = ["clock", "--framework", "sif", "--published", "2016-06-27", "--format", "json"]
    args += ["--judgement", "inadequate"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    (changed,) = [m for m in doc["milestones"] if "local override" in m["basis"]]
    assert changed["id"] == "action_planning_visit" and changed["due"] == "2016-08-01"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "overrides:\n  sif.action_planning_visit: {source: my reading}\n",
            "rule sif.action_planning_visit, key source: an overlay may change only a rule's "
            "unit, offset or window",
        ),
        (
            "overrides:\n  sif.action_planning_visit: {confidence: high, offset: 30}\n",
            "rule sif.action_planning_visit, key confidence: an overlay may change only",
        ),
        (
            "overrides:\n  sif.no_such_rule: {offset: 3}\n",
            "rule sif.no_such_rule: no such rule in the rulebooks",
        ),
        (
            "overrides:\n  sif.action_planning_visit: {unit: fortnights}\n",
            "rule sif.action_planning_visit, field unit: 'fortnights' is not one of",
        ),
        (
            "overrides:\n  sif.action_planning_visit: {offset: thirty}\n",
            "rule sif.action_planning_visit, field offset: 'thirty' is not of type 'integer'",
        ),
        (
            "overrides:\n  sif.action_planning_visit: {window: {start_offset: 40}}\n",
            "rule sif.action_planning_visit, field window.start_offset: 40 must lie between 0 "
            "and the offset (35)",
        ),
        (
            "overrides:\n  sif.action_planning_visit: {window: {end_offset: 40}}\n",
            "rule sif.action_planning_visit, field window: Additional properties are not allowed",
        ),
        ("overrides: {}\n", "field overrides: {} should be non-empty"),
        ("rules: []\noverrides:\n  sif.publish_report: {offset: 3}\n", "key rules: a rules "),
        ("overrides: [unclosed\n", "the rules overlay is not valid YAML"),
        ("- a list\n", "the rules overlay must be a mapping with 'overrides'"),
    ],
    ids=[
        "other-key",
        "other-key-with-allowed",
        "unknown-rule",
        "bad-unit",
        "bad-offset",
        "window-after-offset",
        "window-other-key",
        "empty",
        "top-level-key",
        "not-yaml",
        "not-a-mapping",
    ],
)
def test_an_invalid_overlay_is_one_line_and_exit_2(overlay, capsys, text, message):
    path = overlay(text)
    code = main(["clock", "--framework", "sif", "--published", "2016-06-27"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"statclock clock: error: {path}")
    assert message in err
    with pytest.raises(OverlayError):
        load_rulebooks()


def test_a_missing_overlay_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv("STATCLOCK_RULES_OVERLAY", str(missing))
    assert main(["rules"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"statclock rules: error: {missing} (STATCLOCK_RULES_OVERLAY): cannot read the rules "
        "overlay (No such file or directory)\n"
    )


def test_the_scales_never_read_the_overlay(tmp_path, monkeypatch, capsys):
    # The DAG forms read the judgement scale when the DAG file is parsed: never the overlay.
    monkeypatch.setenv("STATCLOCK_RULES_OVERLAY", str(tmp_path / "nowhere.yaml"))
    assert "inadequate" in judgements()
    assert main(["holidays", "2020"]) == 0
    capsys.readouterr()


def test_the_checksum_is_the_files(overlay):
    path = overlay(CALENDAR_DAYS)
    changes, sha = read_overlay(str(path))
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert overlay_in_force(load_rulebooks()) == sha
    assert overlay_in_force(bundled_rulebooks()) is None
    books = apply_overlay(bundled_rulebooks(), changes, str(path), sha)
    assert books["sif"].rules != bundled_rulebooks()["sif"].rules
    assert books["ilacs"] is bundled_rulebooks()["ilacs"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offset=st.integers(min_value=1, max_value=120),
    unit=st.sampled_from(["working_days", "calendar_days", "weeks", "months"]),
    published=st.dates(min_value=date(2014, 1, 1), max_value=date(2017, 12, 31)),
)
def test_an_overridden_rule_counts_in_its_new_unit(tmp_path, offset, unit, published):
    path = tmp_path / "overlay.yaml"
    path.write_text(
        f"overrides:\n  sif.publish_report: {{unit: {unit}, offset: {offset}}}\n", "utf-8"
    )
    changes, sha = read_overlay(str(path))
    builder = ClockBuilder(rulebooks=apply_overlay(bundled_rulebooks(), changes, str(path), sha))
    milestone = builder.compute(CaseFacts("sif", published)).by_id()["publish_report"]
    if unit == "working_days":
        expected = builder.calendar.add_working_days(published, offset)
    elif unit == "calendar_days":
        expected = published + timedelta(days=offset)
    elif unit == "weeks":
        expected = published + timedelta(weeks=offset)
    else:
        from statutory_clock.engine import add_months

        expected = add_months(published, offset)
    assert milestone.due == expected
    assert "(local override: " in milestone.basis and str(path) in milestone.basis
