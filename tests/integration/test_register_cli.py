"""`statclock` register commands end to end, in subprocesses, against a real SQLite file."""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.seeds import write_seeds_as_they_stood

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {**os.environ, "STATCLOCK_DATABASE_URL": f"sqlite:///{db}"}
    # The seed councils as they stood in 2017 (open), for `demo load --as-of 2017-...`.
    env["STATCLOCK_DEMO_DIR"] = str(write_seeds_as_they_stood(db.parent / "seeds-2017"))
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, env=env, timeout=120)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    db = tmp_path / "register.db"
    result = run(db, "demo", "load", "--as-of", "2017-10-02")
    assert result.returncode == 0, result.stderr
    assert "5 case file(s) imported" in result.stdout
    return db


def test_list_show_event_export(loaded: Path, tmp_path: Path):
    listing = run(loaded, "case", "list", "--as-of", "2017-10-02")
    assert "croydon-2017" in listing.stdout and "London Borough of Tower Hamlets" in listing.stdout
    shown = run(loaded, "case", "show", "croydon-2017", "--as-of", "2017-10-02")
    assert "Mon 11 Dec 2017" in shown.stdout and "written_statement_of_action" in shown.stdout
    event = run(
        loaded,
        "case",
        "event",
        "croydon-2017",
        "action_planning_visit",
        "2017-10-10",
        "--as-of",
        "2017-10-12",
        "--note",
        "Held with the lead inspector",
    )
    assert event.returncode == 0, event.stderr
    out = tmp_path / "croydon.yaml"
    exported = run(loaded, "case", "export", "croydon-2017", "--output", str(out))
    assert exported.returncode == 0 and "action_planning_visit" in out.read_text()
    audit = run(loaded, "case", "audit", "croydon-2017")
    # The actor is the login the command ran under, whatever the environment claims.
    assert "event recorded" in audit.stdout and getpass.getuser() in audit.stdout


BROKEN = [
    ("published: 2017-09-04", "published: 2017-02-30", ["inspection.published", "2017-02-30"]),
    ("framework: sif", "framework: sift", ["inspection.framework", "sift"]),
    ("overall: inadequate", "overall: dreadful", ["inspection.judgements.overall", "dreadful"]),
    ('dfe_code: "306"', 'dfe_code: "30X"', ["local_authority.dfe_code", "30X"]),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    BROKEN,
    ids=["impossible-date", "framework", "judgement", "dfe-code"],
)
def test_invalid_case_file_is_refused_and_the_database_is_untouched(
    loaded, tmp_path, old, new, expected
):
    text = (DEMO / "croydon-2017.yaml").read_text()
    assert old in text
    broken = tmp_path / "croydon-2017-broken.yaml"
    broken.write_text(text.replace(old, new, 1))
    before = digest(loaded)
    # A valid file first: the whole import is one transaction, so it must not land either.
    valid = tmp_path / "other-2017.yaml"
    valid.write_text((DEMO / "tower-hamlets-2017.yaml").read_text())
    result = run(loaded, "case", "import", str(valid), str(broken))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    line = text[: text.index(old)].count("\n") + 1
    assert f"{broken}, line {line}, field" in lines[0]
    for part in expected:
        assert part in lines[0]
    assert digest(loaded) == before


def test_duplicate_import_is_refused_and_the_database_is_untouched(loaded):
    before = digest(loaded)
    result = run(loaded, "case", "import", str(DEMO / "croydon-2017.yaml"))
    assert result.returncode == 2
    assert "key: 'croydon-2017' is already in the register" in result.stderr
    assert digest(loaded) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["case", "event", "croydon-2017", "first_visit", "2017-10-01"],
            "milestone: 'first_visit'",
        ),
        (["case", "event", "croydon-2017", "publish_report", "2017-13-01"], "'2017-13-01'"),
        (["action", "update", "tower-hamlets-2017", "40", "--status", "red"], "action: 40"),
        (["action", "update", "tower-hamlets-2017", "1", "--status", "purple"], "'purple'"),
        (
            [
                "milestone",
                "extend",
                "croydon-2017",
                "publish_report",
                "--to",
                "2017-10-01",
                "--reason",
                "x",
                "--agreed-by",
                "Ofsted",
            ],
            "to: '2017-10-01' is not after",
        ),
        (["case", "show", "nowhere"], "case: 'nowhere'"),
    ],
    ids=[
        "unknown-milestone",
        "bad-date",
        "unknown-action",
        "bad-rag",
        "extension-earlier",
        "unknown-case",
    ],
)
def test_bad_commands_exit_2_with_one_line_and_change_nothing(loaded, args, expected):
    before = digest(loaded)
    result = run(loaded, *args, "--as-of", "2017-10-12")
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    assert digest(loaded) == before


def test_commands_on_a_missing_register_create_nothing(tmp_path):
    db = tmp_path / "none.db"
    result = run(db, "case", "list")
    assert result.returncode == 2 and "statclock demo load" in result.stderr
    assert not db.exists()
