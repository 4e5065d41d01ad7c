"""Every user error of the register commands: exit 2, one line, no traceback, database unchanged.

On both databases. ``test_every_user_error`` enumerates the user errors of issue 10 (a bad
``--database-url``, ``case export -o`` to a folder or a missing folder, what PostgreSQL used to
refuse with a DataError traceback, year-9999 dates, huge numbers) and every hostile option of
the register commands; ``test_hostile_case_files_write_nothing`` imports hostile case files
from the generated table; hypothesis tries random option values.

"Unchanged" is exact: the SQLite file byte for byte; on PostgreSQL every table's row count and
a digest of its rows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from statutory_clock import register_cli
from statutory_clock.store import db
from statutory_clock.store.models import LocalAuthority
from tests.conftest import POSTGRES_URL, _drop_database
from tests.unit.test_casefile_hostile import (
    CONTROL,
    MUTATIONS,
    YAML_ATTACKS,
    dump,
    field_of,
    with_value,
)
from tests.unit.test_cli_hostile import call

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "include" / "demo"
HOSTILE = REPO / "tests" / "hostile"
STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
AS_OF = ["--as-of", "2017-10-12"]


class Register:
    """A register holding Croydon 2017 and Tower Hamlets 2017, and a way to see any change."""

    def __init__(self, kind: str, url: str, path: Path | None) -> None:
        self.kind, self.url, self.path = kind, url, path

    def snapshot(self) -> Any:
        if self.path is not None:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                # One round trip: each table's row count and a digest of its rows.
                query = " UNION ALL ".join(
                    f"SELECT '{table}', count(*), md5(coalesce(string_agg(t::text, '|' "
                    f"ORDER BY t::text), '')) FROM \"{table}\" t"
                    for table in sorted(inspect(conn).get_table_names())
                )
                return sorted(tuple(row) for row in conn.execute(text(query)))
        finally:
            engine.dispose()

    def argv(self, argv: list[str]) -> list[str]:
        return argv if "--database-url" in argv else [*argv, "--database-url", self.url]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Register]:
    """One loaded register per database for the module: every command tried here is refused,
    and each test checks that nothing changed, so they can share it."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("hostile") / "register.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        register = Register("sqlite", f"sqlite:///{path}", path)
        admin = None
    else:
        template = request.getfixturevalue("postgres_template")
        assert POSTGRES_URL
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        name = f"statclock_h_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        register = Register("postgresql", url, None)
    files = [str(DEMO / "croydon-2017.yaml"), str(DEMO / "tower-hamlets-2017.yaml")]
    code, _, err = call(register.argv(["case", "import", *files, "--as-of", "2017-10-02"]))
    assert code == 0, err
    yield register
    if admin is not None:
        _drop_database(admin, make_url(register.url).database or "")
        admin.dispose()


def assert_refused(register: Register, argv: list[str], *names: str) -> str:
    before = register.snapshot()
    code, out, err = call(register.argv(argv))
    assert code == 2, (argv, out, err)
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    line = err.rstrip("\n")
    assert line.isprintable() and "Traceback" not in line and len(line) < 600, line
    for name in names:
        assert name in line, (name, line)
    assert register.snapshot() == before, f"{argv} changed the register"
    return line


# -- the commands, each valid, and each part of them made hostile --------------------------------

EVENT = ["case", "event", "croydon-2017", "action_planning_visit", "2017-10-10", *AS_OF]
UPDATE = ["action", "update", "tower-hamlets-2017", "1", "--status", "red", *AS_OF]
PROGRESS = ["action", "update", "tower-hamlets-2017", "1", "--progress", "Audit done", *AS_OF]
EXTEND = [
    "milestone",
    "extend",
    "croydon-2017",
    "written_statement_of_action",
    "--to",
    "2018-01-31",
    "--reason",
    "Ofsted agreed a later date",
    "--agreed-by",
    "Ofsted",
    *AS_OF,
]
WAIVE = ["milestone", "waive", "croydon-2017", "first_monitoring_visit"]
WAIVE += ["--reason", "Replaced by a visit", "--agreed-by", "Ofsted", *AS_OF]
BASE_COMMANDS = {"event": EVENT, "update": UPDATE, "progress": PROGRESS}
BASE_COMMANDS |= {"extend": EXTEND, "waive": WAIVE}


def put(argv: list[str], where: str | int, value: str) -> list[str]:
    """``argv`` with an option's value (or a positional argument) replaced or added."""
    argv = list(argv)
    if isinstance(where, int):
        argv[where] = value
    elif where in argv:
        argv[argv.index(where) + 1] = value
    else:
        argv += [where, value]
    return argv


def test_the_commands_work_so_each_hostile_variant_tests_one_thing(register_url):
    files = [str(DEMO / "croydon-2017.yaml"), str(DEMO / "tower-hamlets-2017.yaml")]
    argv = ["case", "import", *files, "--as-of", "2017-10-02", "--database-url", register_url]
    assert call(argv)[0] == 0
    for name, command in BASE_COMMANDS.items():
        code, _, err = call([*command, "--database-url", register_url, "--by", "Pat Smith"])
        assert code == 0, (name, err)
    code, out, _ = call(["case", "export", "croydon-2017", "--database-url", register_url])
    assert code == 0 and "Ofsted agreed a later date" in out


def test_the_snapshot_sees_any_change(register_url):
    """ "Unchanged" must be able to fail: a one-character note changes the snapshot."""
    path = Path(register_url.split("///", 1)[1]) if register_url.startswith("sqlite") else None
    register = Register("sqlite" if path else "postgresql", register_url, path)
    croydon = str(DEMO / "croydon-2017.yaml")
    assert call(register.argv(["case", "import", croydon, "--as-of", "2017-10-02"]))[0] == 0
    before = register.snapshot()
    assert call(register.argv(put(EVENT, "--note", "x")))[0] == 0
    after = register.snapshot()
    assert after != before
    assert call(register.argv(put(EVENT, "--note", "y")))[0] == 0, "a correction"
    assert register.snapshot() != after


BAD_DAYS = ["9999-12-31", "0001-01-01", "1989-12-31", "2101-01-01", "2017-10-10\n", "2017-02-30"]
BAD_VERSIONS = ["0", "-1", str(2**31), str(10**30), "9" * 5000, "1.5", "1e3", "", "x"]
BAD_KEYS = ["croydon-2017\n", "CROYDON-2017", "croydon-2017\x00", "x" * 101, "../etc/passwd", ""]
BAD_MILESTONES = ["action_planning_visit\r\n", "Action", "x" * 101, "a\u202e", "a\x00"]
BAD_ACTIONS = ["0", "-1", "10001", str(10**30), "1.5", "one", ""]


UserError = tuple[str, list[str], str, list[str]]  # id, argv, the hostile value, other parts


def _user_errors(tmp: Path) -> list[UserError]:
    """Every user error of the register commands, with the value the message must show and the
    option or field it must name."""
    in_the_way = tmp / "a-file"  # a file where a folder should be: the fixture writes it
    no_server = "postgresql+psycopg://u:secret@127.0.0.1:1/x"
    errors: list[UserError] = [
        ("url-nonsense", ["case", "list", "--database-url", "nonsense://"], "nonsense://", []),
        ("url-unparsable", ["case", "list", "--database-url", "://"], "://", ["database"]),
        (
            "url-no-server",
            ["case", "list", "--database-url", no_server],
            "postgresql+psycopg://u:***@127.0.0.1:1/x",
            ["database: cannot open", "refused"],
        ),
        (
            "url-no-driver",
            ["case", "list", "--database-url", "mysql://u:secret@127.0.0.1/x"],
            "mysql://u:***@127.0.0.1/x",
            ["database: cannot open"],
        ),
        (
            "url-sqlite-under-a-file",
            ["db", "upgrade", "--database-url", f"sqlite:///{in_the_way}/x.db"],
            f"sqlite:///{in_the_way}/x.db",
            ["database: cannot open"],
        ),
        (
            "url-sqlite-missing",
            ["case", "list", "--database-url", f"sqlite:///{tmp}/missing/x.db"],
            f"{tmp}/missing/x.db",
            ["there is no register"],
        ),
        (
            "url-newline",
            ["case", "list", "--database-url", "sqlite:///x.db\nDROP"],
            "sqlite:///x.db\nDROP",
            ["--database-url", "line break"],
        ),
        (
            "export-to-a-folder",
            ["case", "export", "croydon-2017", "-o", str(tmp)],
            str(tmp),
            ["--output", "is a folder"],
        ),
        (
            "export-into-a-missing-folder",
            ["case", "export", "croydon-2017", "-o", str(tmp / "missing" / "c.yaml")],
            str(tmp / "missing"),
            ["--output", "does not exist"],
        ),
        (
            "export-into-a-file",
            ["case", "export", "croydon-2017", "-o", str(in_the_way / "c.yaml")],
            str(in_the_way),
            ["--output"],
        ),
        ("export-nul-path", ["case", "export", "croydon-2017", "-o", "a\x00b"], "a\x00b", ["-o"]),
        ("as-of-0001", put(EVENT, "--as-of", "0001-01-01"), "0001-01-01", ["--as-of"]),
        ("as-of-9999", ["case", "list", "--as-of", "9999-12-31"], "9999-12-31", ["--as-of"]),
    ]
    for day in BAD_DAYS:
        errors.append((f"event-date-{day!r}", put(EVENT, 4, day), day, ["YYYY-MM-DD"]))
        errors.append((f"progress-date-{day!r}", put(PROGRESS, "--date", day), day, ["--date"]))
        errors.append((f"extend-to-{day!r}", put(EXTEND, "--to", day), day, ["--to"]))
    for version in BAD_VERSIONS:
        for name in ("event", "update", "extend"):
            argv = put(BASE_COMMANDS[name], "--expected-version", version)
            errors.append((f"{name}-version-{version[:12]}", argv, version, ["--expected-version"]))
    for key in BAD_KEYS:
        errors.append((f"event-key-{key[:14]!r}", put(EVENT, 2, key), key, ["key"]))
        for command in ("show", "audit", "export"):
            errors.append((f"{command}-key-{key[:14]!r}", ["case", command, key], key, ["key"]))
    for milestone in BAD_MILESTONES:
        for name, command in (("event", EVENT), ("waive", WAIVE)):
            argv = put(command, 3, milestone)
            errors.append((f"{name}-milestone-{milestone[:14]!r}", argv, milestone, ["milestone"]))
    for number in BAD_ACTIONS:
        errors.append((f"action-{number[:14]}", put(UPDATE, 3, number), number, ["number"]))
    for name, value in CONTROL.items():
        options = [("reason", EXTEND, "--reason"), ("agreed-by", EXTEND, "--agreed-by")]
        options += [("waive-reason", WAIVE, "--reason"), ("by", EVENT, "--by")]
        if name not in ("lf", "tab"):  # a note may have several lines
            options += [("note", EVENT, "--note"), ("progress", PROGRESS, "--progress")]
        for label, command, option in options:
            errors.append((f"{label}-{name}", put(command, option, value), value, [option]))
    for label, command, option, value, limit in [
        ("note-too-long", EVENT, "--note", "x" * 10_001, "at most 10,000"),
        ("progress-10-mb", PROGRESS, "--progress", "x" * 10_000_000, "at most 10,000"),
        ("reason-too-long", EXTEND, "--reason", "x" * 1001, "at most 1,000"),
        ("agreed-by-201", EXTEND, "--agreed-by", "x" * 201, "at most 200"),
        ("by-101", EVENT, "--by", "x" * 101, "at most 100"),
    ]:
        errors.append((label, put(command, option, value), value, [option, limit]))
    errors.append(("status-escape", put(UPDATE, "--status", "red\x1b[2J"), "red\x1b[2J", []))
    return errors


def shows(value: str) -> str:
    """What of ``value`` a message must show: its start, escaped as repr() escapes it."""
    return repr(value)[1:-1][:8]


_ERROR_IDS = [e[0] for e in _user_errors(Path("/nonexistent"))]


@pytest.fixture(scope="module")
def user_errors(tmp_path_factory) -> dict[str, tuple[list[str], str, list[str]]]:
    tmp = tmp_path_factory.mktemp("errors")
    (tmp / "a-file").write_text("not a folder")
    return {name: (argv, value, names) for name, argv, value, names in _user_errors(tmp)}


@pytest.mark.parametrize("name", _ERROR_IDS)
def test_every_user_error(loaded, user_errors, name):
    argv, value, names = user_errors[name]
    assert_refused(loaded, argv, shows(value), *names)


def test_a_database_url_error_never_shows_the_password(loaded):
    line = assert_refused(
        loaded, ["case", "list", "--database-url", "postgresql+psycopg://u:hunter2@127.0.0.1:1/x"]
    )
    assert "hunter2" not in line


# -- what PostgreSQL refused with a traceback, now refused by the rules first -------------------

DATABASE_ERRORS = {
    "name-201-characters": (("local_authority", "name"), "x" * 201),
    "email-302-characters": (("contacts", 0, "email"), "p" * 288 + "@croydon.example"),
    "nul-in-a-name": (("local_authority", "name"), "Croy\x00don"),
    "nul-in-a-note": (("notes",), "a\x00b"),
    "contact-name-too-long-for-the-audit-trail": (("contacts", 0, "name"), "x" * 145),
    "recommendation-10-to-the-30": (("inspection", "recommendations", 0, "number"), 10**30),
    "published-9999": (("inspection", "published"), "9999-09-04"),
}


@pytest.mark.parametrize("name", DATABASE_ERRORS)
def test_values_the_database_cannot_hold_are_refused_before_it(loaded, tmp_path, name):
    path, value = DATABASE_ERRORS[name]
    doc = with_value(path, value)
    doc["key"] = "croydon-2017-copy"
    hostile = tmp_path / "copy.yaml"
    hostile.write_text(dump(doc))
    valid = tmp_path / "valid.yaml"
    valid.write_text(dump({**with_value(("notes",), "fine"), "key": "croydon-2017-other"}))
    # A valid file first: the import is one transaction, so it must not land either.
    line = assert_refused(loaded, ["case", "import", str(valid), str(hostile), *AS_OF])
    assert f"field {field_of(path)}" in line


def test_a_write_the_database_still_refuses_is_one_line_and_rolled_back(loaded):
    """Defence in depth: if a value ever passes the rules and the database refuses it
    (IntegrityError on both databases, DataError on PostgreSQL), the command says so in one
    line and nothing is written."""
    engine = db.make_engine(loaded.url)
    before = loaded.snapshot()

    def duplicate_authority(session: Any) -> None:
        session.add(LocalAuthority(name="Croydon again", dfe_code="306"))
        session.flush()

    attempts = [duplicate_authority]
    if loaded.kind == "postgresql":

        def too_long(session: Any) -> None:
            session.add(LocalAuthority(name="x" * 201, dfe_code="998"))
            session.flush()

        def nul(session: Any) -> None:
            session.add(LocalAuthority(name="a\x00b", dfe_code="997"))
            session.flush()

        attempts += [too_long, nul]
    try:
        for work in attempts:
            with pytest.raises(register_cli.RegisterCommandError) as caught:
                register_cli._write(engine, work)
            message = str(caught.value)
            assert message.startswith("database: the change was refused and nothing was written")
            assert message.isprintable() and "\n" not in message
    finally:
        engine.dispose()
    assert loaded.snapshot() == before


# -- hostile case files against the register ---------------------------------------------------


def _sample() -> list[tuple[str, tuple[str | int, ...], Any]]:
    """Each field's first hostile value, then every tenth mutation: every field and every kind
    of value reaches the register, at a tenth of the cost of the whole table."""
    sample, seen = [], set()
    for i, (name, path, value, _) in enumerate(MUTATIONS):
        if field_of(path) not in seen or i % 10 == 0:
            sample.append((name, path, value))
            seen.add(field_of(path))
    return sample


FILE_SAMPLE = _sample()


def test_hostile_case_files_write_nothing(loaded, tmp_path):
    """A sample of the generated hostile files and every YAML attack, each imported after a
    valid file: each refused in one line, nothing written."""
    before = loaded.snapshot()
    valid = tmp_path / "valid.yaml"
    valid.write_text(dump({**with_value(("notes",), "fine"), "key": "croydon-2017-other"}))
    for name, path, value in FILE_SAMPLE:
        hostile = tmp_path / "hostile-2017.yaml"
        hostile.write_text(dump(with_value(path, value)))
        code, _, err = call(loaded.argv(["case", "import", str(valid), str(hostile), *AS_OF]))
        assert code == 2 and err.count("\n") == 1 and err.rstrip().isprintable(), (name, err)
    for name, (make, _) in YAML_ATTACKS.items():
        hostile = tmp_path / "attack-2017.yaml"
        hostile.write_text(make(), encoding="utf-8", errors="surrogatepass")
        code, _, err = call(loaded.argv(["case", "import", str(valid), str(hostile), *AS_OF]))
        assert code == 2 and err.count("\n") == 1 and err.rstrip().isprintable(), (name, err)
    assert loaded.snapshot() == before


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["case", "import", str(HOSTILE / "alias-bomb.yaml")], "anchors"),
        (["case", "list", "--database-url", "nonsense://"], "cannot open nonsense://"),
        (["case", "export", "croydon-2017", "-o", "/"], "is a folder"),
        (["case", "event", "croydon-2017", "first_monitoring_visit", "9999-01-01"], "9999-01-01"),
    ],
    ids=["alias-bomb", "database-url", "export-to-a-folder", "year-9999"],
)
def test_through_the_installed_script(loaded, argv, expected):
    assert STATCLOCK
    before = loaded.snapshot()
    env = {**os.environ, "STATCLOCK_DATABASE_URL": loaded.url, "STATCLOCK_USER": "tester"}
    result = subprocess.run(
        [STATCLOCK, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and expected in lines[0]
    assert loaded.snapshot() == before


# -- properties ----------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec=None), max_size=40)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(sorted(BASE_COMMANDS)),
    option=st.sampled_from(["--note", "--progress", "--reason", "--agreed-by", "--by"]),
    value=TEXT,
    version=st.none() | st.integers().map(str),
)
def test_random_option_values_change_the_register_only_when_accepted(
    loaded, command, option, value, version
):
    argv = put(BASE_COMMANDS[command], option, value)
    if version is not None:
        argv = put(argv, "--expected-version", version)
    before = loaded.snapshot()
    code, _, err = call(loaded.argv(argv))
    if code == 0:
        return  # a valid change (a note of ordinary text): it may write
    assert code == 2, err
    assert err.count("\n") == 1 and err.rstrip("\n").isprintable(), repr(err)
    assert loaded.snapshot() == before


# Per database; the write refusals are one on SQLite and three on PostgreSQL.
HOSTILE_COUNT = (
    len(_ERROR_IDS) + 1 + len(DATABASE_ERRORS) + len(FILE_SAMPLE) + len(YAML_ATTACKS) + 4
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    where=st.sampled_from(
        [("event", 4), ("event", "--as-of"), ("progress", "--date"), ("extend", "--to")]
    ),
    day=st.dates().map(lambda d: d.isoformat()) | st.text(max_size=12),
)
def test_random_dates_change_the_register_only_when_accepted(loaded, where, day):
    command, position = where
    before = loaded.snapshot()
    code, _, err = call(loaded.argv(put(BASE_COMMANDS[command], position, day)))
    if code == 0:
        return
    assert code == 2, err
    assert err.count("\n") == 1 and err.rstrip("\n").isprintable(), repr(err)
    assert loaded.snapshot() == before
