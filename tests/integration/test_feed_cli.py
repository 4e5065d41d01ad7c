"""`statclock feed url` end to end, in subprocesses, on both real databases: the address it
prints carries the feed's token, --rotate changes it (audited under the OS login), and bad input
is one line on stderr with exit status 2 and nothing written."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from statutory_clock.store import db, feed_tokens, register
from statutory_clock.store.models import AuditEvent, FeedToken
from tests.seeds import seed_as_it_stood

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
CROYDON = "croydon-2017"


def run(url: str, *args: str, base: str | None = None) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {**os.environ, "STATCLOCK_DATABASE_URL": url}
    env.pop("STATCLOCK_BASE_URL", None)
    if base is not None:
        env["STATCLOCK_BASE_URL"] = base
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def loaded(register_url: str) -> str:
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        doc = seed_as_it_stood(DEMO / f"{CROYDON}.yaml")
        register.import_case(session, doc, "tester", date(2017, 10, 2))
    engine.dispose()
    return register_url


def token(url: str, scope: str) -> str:
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as session:
            return register.feed_token(session, scope)
    finally:
        engine.dispose()


def audit_count(url: str) -> int:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
    finally:
        engine.dispose()


def test_the_address_of_a_council_feed_and_of_the_portfolio(loaded):
    council = run(loaded, "feed", "url", CROYDON)
    assert council.returncode == 0, council.stderr
    expected = token(loaded, feed_tokens.case_scope(CROYDON))
    assert council.stdout == (
        f"http://localhost:8080/statclock/feeds/{CROYDON}.ics?token={expected}\n"
    )
    (help_line,) = council.stderr.splitlines()
    assert help_line.startswith("Subscribe to this address in Outlook")
    assert "Anyone with this address can read the feed; rotate it with --rotate" in help_line

    portfolio = run(loaded, "feed", "url", "--portfolio", base="https://airflow.council.example/")
    assert portfolio.returncode == 0, portfolio.stderr
    assert portfolio.stdout == (
        "https://airflow.council.example/statclock/feeds/portfolio.ics?token="
        f"{token(loaded, feed_tokens.PORTFOLIO)}\n"
    )
    # Asking again gives the same address: reading it writes nothing.
    before = audit_count(loaded)
    assert run(loaded, "feed", "url", CROYDON).stdout == council.stdout
    assert audit_count(loaded) == before


def test_rotate_prints_a_new_address_and_the_old_one_stops_working(loaded):
    old = token(loaded, feed_tokens.case_scope(CROYDON))
    rotated = run(loaded, "feed", "url", CROYDON, "--rotate", "--by", "Jo Bloggs")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().rpartition("token=")[2]
    assert new != old and new == token(loaded, feed_tokens.case_scope(CROYDON))
    assert "the previous address no longer works" in rotated.stderr
    assert run(loaded, "feed", "url", CROYDON).stdout.strip().endswith(f"token={new}")
    engine = db.make_engine(loaded)
    with db.transaction(engine) as session:
        assert not register.check_feed_token(session, feed_tokens.case_scope(CROYDON), old)
        row = session.execute(
            select(AuditEvent).where(AuditEvent.action == "feed address rotated")
        ).scalar_one()
        assert (row.actor, row.on_behalf_of) == (getpass.getuser(), "Jo Bloggs")
        assert (row.inspection_key, row.old, row.new) == (CROYDON, "0", "1")
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "base", "expected"),
    [
        (["nope-2017"], None, "case: 'nope-2017' is not in the register"),
        (["nope-2017", "--rotate"], None, "case: 'nope-2017' is not in the register"),
        ([], None, "key: give a case key (e.g. croydon-2017) or --portfolio"),
        ([CROYDON, "--portfolio"], None, "key: give a case key or --portfolio, not both"),
        ([CROYDON], "ftp://files.example", "STATCLOCK_BASE_URL: 'ftp://files.example' is not"),
        ([CROYDON, "--rotate"], "https://x.example/?a=b", "STATCLOCK_BASE_URL: 'https://x.ex"),
        (["Croydon 2017"], None, "'Croydon 2017' is not a case key"),
    ],
    ids=["unknown", "unknown-rotate", "neither", "both", "scheme", "query", "bad-key"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(loaded, args, base, expected):
    before = audit_count(loaded)
    result = run(loaded, "feed", "url", *args, base=base)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("statclock feed")
    assert expected in lines[0]
    assert audit_count(loaded) == before
    engine = db.make_engine(loaded)
    with engine.connect() as conn:  # no feed was rotated
        assert conn.execute(select(func.count()).select_from(FeedToken)).scalar_one() == 0
    engine.dispose()
