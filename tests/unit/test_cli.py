"""The `statclock` command as other tools call it: the installed script, in a subprocess."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from icalendar import Calendar

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
CROYDON = ["clock", "--framework", "sif", "--published", "2017-09-04", "--judgement", "inadequate"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK, "statclock is not installed in this virtual environment"
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, timeout=60)


def test_json_contract():
    result = run(*CROYDON, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["anchor"] == {"date": "2017-09-04", "kind": "publication"}
    # The contract's keys, plus the allowed additions `party` (docs/architecture.md) and `act_by`
    # (issue 13): keys may be added, never removed or renamed.
    keys = {"id", "title", "due", "window_start", "rule", "source", "basis", "party", "act_by"}
    assert all(set(m) == keys for m in doc["milestones"])
    by_id = {m["id"]: m for m in doc["milestones"]}
    assert by_id["written_statement_of_action"]["party"] == "council"
    assert by_id["action_planning_visit"]["party"] == "ofsted"
    assert by_id["first_monitoring_visit"]["party"] == "ofsted"
    assert by_id["written_statement_of_action"]["due"] == "2017-12-11"
    assert by_id["written_statement_of_action"]["act_by"] == "2017-12-11"  # a Monday
    # 25 calendar days after publication (issue 13: the handbook's "25 to 35 days" counts
    # calendar days; read as working days it opened on 9 October)
    assert by_id["action_planning_visit"]["window_start"] == "2017-09-29"
    assert by_id["publish_report"]["rule"] == "sif.publish_report"


def test_direction_and_receipt():
    result = run(
        *CROYDON, "--received", "2017-08-31", "--direction", "2017-09-04", "--format", "json"
    )
    doc = json.loads(result.stdout)
    assert doc["anchor"] == {"date": "2017-08-31", "kind": "receipt"}
    by_id = {m["id"]: m for m in doc["milestones"]}
    assert by_id["commissioner_report"]["due"] == "2017-12-04"
    assert by_id["commissioner_report"]["party"] == "dfe"
    assert by_id["board_chair_report_1"]["party"] == "council"
    assert by_id["dfe_review_1"]["party"] == "dfe"


def test_as_of_says_not_recorded_for_ofsted_and_overdue_for_the_council():
    result = run(*CROYDON, "--as-of", "2018-06-01", "--format", "json")
    by_id = {m["id"]: m for m in json.loads(result.stdout)["milestones"]}
    assert by_id["first_monitoring_visit"]["status"] == "not_recorded"
    assert by_id["written_statement_of_action"]["status"] == "overdue"
    table = run(*CROYDON, "--as-of", "2018-06-01").stdout
    row = next(line for line in table.splitlines() if " first_monitoring_visit " in line)
    assert " ofsted " in row and " not_recorded " in row


def test_table_is_readable():
    result = run(*CROYDON, "--as-of", "2017-12-01")
    assert result.returncode == 0
    assert "Anchor: Monday 4 September 2017 (publication" in result.stdout
    assert "Mon 11 Dec 2017" in result.stdout
    assert "SI 2007/462 reg 3" in result.stdout


def test_table_gives_act_by_when_the_due_date_is_not_a_working_day():
    # A direction on 30 November 2023: twelve months is Saturday 30 November 2024.
    result = run(
        "clock", "--framework", "ilacs", "--published", "2023-10-02", "--judgement", "inadequate",
        "--direction", "2023-11-30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if " board_chair_report_4 " in line)
    assert row.startswith("Sat 30 Nov 2024  Fri 29 Nov 2024 ")
    row = next(line for line in result.stdout.splitlines() if " board_chair_report_3 " in line)
    assert row.startswith("Fri 30 Aug 2024") and row[17:33].strip() == ""  # no act by: a Friday


def test_ics_parses_with_stable_uids():
    result = run(*CROYDON, "--format", "ics")
    cal = Calendar.from_ical(result.stdout)
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    wsoa = events["sif-2017-09-04-written_statement_of_action@statclock"]
    assert wsoa.decoded("dtstart").isoformat() == "2017-12-11"
    assert "70 working days after 2017-09-04" in str(wsoa["description"])


def test_bromley_2010_recommendations_from_the_command_line():
    result = run(
        "clock",
        "--framework",
        "slac2009",
        "--published",
        "2010-05-24",
        "--recommendation",
        "2=Within three months",
        "--format",
        "json",
    )
    doc = json.loads(result.stdout)
    assert {m["id"]: m["due"] for m in doc["milestones"]}["recommendation_2"] == "2010-08-31"


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--framework", "sif", "--published", "2017-02-30"], ["--published", "'2017-02-30'"]),
        (["--framework", "sif", "--published", "04/09/2017"], ["--published", "'04/09/2017'"]),
        (["--framework", "scif", "--published", "2017-09-04"], ["--framework", "'scif'"]),
        (
            ["--framework", "sif", "--published", "2017-09-04", "--judgement", "poor"],
            ["--judgement", "'poor'"],
        ),
        (
            ["--framework", "sif", "--published", "2017-09-04", "--judgement", "adequate"],
            ["--judgement", "'adequate'"],
        ),
        (["--framework", "sif", "--published", "2010-01-04"], ["--published", "'2010-01-04'"]),
        (
            ["--framework", "sif", "--published", "2017-09-04", "--direction", "2017-9-4"],
            ["--direction", "'2017-9-4'"],
        ),
        (
            ["--framework", "sif", "--published", "2017-09-04", "--event", "x=2017-10-01"],
            ["--event x", "'2017-10-01'"],
        ),
        (["--framework", "sif"], ["--published"]),
        (["--published", "2017-09-04"], ["--framework"]),
        (
            ["--framework", "sif", "--published", "2017-09-04", "--format", "pdf"],
            ["--format", "'pdf'"],
        ),
    ],
    ids=[
        "impossible-date",
        "wrong-format",
        "unknown-framework",
        "unknown-judgement",
        "judgement-off-scale",
        "outside-framework-period",
        "bad-direction",
        "unknown-event",
        "missing-published",
        "missing-framework",
        "unknown-format",
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, names):
    result = run("clock", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in lines[0]


def test_holidays_and_rules_listing():
    holidays = run("holidays", "2022")
    assert "Friday 3 June 2022" in holidays.stdout and "Monday 19 September 2022" in holidays.stdout
    rules = run("rules", "--framework", "sif")
    assert "written_statement_of_action" in rules.stdout and "SI 2007/462 reg 3" in rules.stdout
    lines = rules.stdout.splitlines()
    assert any(" written_statement_of_action " in x and " council " in x for x in lines)
    assert any(" monitoring_visit " in x and " ofsted " in x for x in lines)
    dfe = run("rules", "--framework", "dfe_intervention").stdout.splitlines()
    assert any(" dfe_review " in x and " dfe " in x for x in dfe)


def test_judgement_choices_come_from_the_rulebooks():
    from statutory_clock.rules import judgements

    result = run(*CROYDON[:-1], "no_such_grade")
    assert result.returncode == 2
    for grade in judgements():
        assert repr(grade) in result.stderr
