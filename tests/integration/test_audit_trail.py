"""The audit trail is tamper-evident: refused by the database, and any rewrite detected.

Run on SQLite and on PostgreSQL as the application's role (``register_url``); where a test plays
a database administrator who gets round the database's own guards, it uses the owner's role
(``register_owner_url``) and says so.
"""

from __future__ import annotations

import getpass
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from statutory_clock.cli import main
from statutory_clock.store import db, register
from statutory_clock.store.audit_chain import GENESIS, row_hash
from statutory_clock.store.casefile import load_case_file
from statutory_clock.store.models import AuditEvent

DEMO = sorted((Path(__file__).resolve().parents[2] / "include" / "demo").glob("*.yaml"))
AS_OF = date(2017, 10, 2)


@pytest.fixture
def loaded(register_engine):
    with db.transaction(register_engine) as session:
        for path in DEMO:
            register.import_case(session, load_case_file(path), "tester", AS_OF)
    return register_engine


def _rows(engine) -> list[dict]:
    table = AuditEvent.__table__
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def _count(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def _verify(url: str, capsys, *extra: str) -> tuple[int, str]:
    status = main(["audit", "verify", "--database-url", url, *extra])
    out = capsys.readouterr()
    return status, out.out + out.err


def _head(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Head: ")).split()[1]


def _unguarded(owner_url: str):
    """A connection as the owner with the trail's triggers out of the way: what a database
    administrator (or an attacker with the owner's password) could do."""
    engine = db.make_engine(owner_url)
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        for name in ("update", "delete", "replace", "backdating"):
            conn.execute(text(f"DROP TRIGGER audit_event_no_{name}"))
    conn.commit()
    return engine, conn


def test_the_trail_of_a_loaded_register_verifies(loaded, register_url, capsys):
    status, output = _verify(register_url, capsys)
    assert status == 0, output
    rows = _rows(loaded)
    assert f"{len(rows):,} rows" in output
    assert _head(output) == f"{rows[-1]['id']}:{rows[-1]['hash']}"
    assert rows[0]["prev_hash"] == GENESIS
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    assert "Warning" not in output  # the application's role cannot rewrite the trail


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'someone else'",
        "DELETE FROM audit_event",
        "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)",
        "REPLACE INTO audit_event SELECT * FROM audit_event WHERE id = 3",
        "INSERT OR REPLACE INTO audit_event SELECT * FROM audit_event WHERE id = 3",
        "TRUNCATE audit_event",
        "DROP TRIGGER audit_event_guard ON audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER USER",
        "DROP TABLE audit_event",
    ],
)
def test_the_application_cannot_rewrite_the_trail(loaded, register_url, statement, capsys):
    postgres = loaded.dialect.name == "postgresql"
    if postgres and "REPLACE" in statement:
        pytest.skip("REPLACE is SQLite's")
    if not postgres and ("TRUNCATE" in statement or " ON audit_event" in statement):
        pytest.skip("PostgreSQL syntax")
    if not postgres and statement.startswith(("ALTER", "DROP TABLE")):
        pytest.skip("on SQLite the application's file is its own: see the owner tests")
    before = _rows(loaded)
    with pytest.raises(DBAPIError) as refused, loaded.begin() as conn:
        conn.execute(text(statement))
    # PostgreSQL: the role has no such right and owns nothing; SQLite: the triggers refuse it.
    assert any(
        why in str(refused.value) for why in ("permission denied", "must be owner", "append-only")
    )
    assert _rows(loaded) == before
    assert _verify(register_url, capsys)[0] == 0


def test_the_owner_too_is_refused_by_the_triggers(loaded, register_owner_url):
    owner = db.make_engine(register_owner_url)
    statements = ["UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event"]
    if owner.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_event")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:
            conn.execute(text(statement))
    owner.dispose()


def _forged(previous: dict, at: datetime, **changes: object) -> dict:
    row = {
        "id": previous["id"] + 1,
        "at": at,
        "actor": "tester",
        "on_behalf_of": None,
        "action": "case field changed",
        "inspection_key": "croydon-2017",
        "entity": "case croydon-2017",
        "field": "notes",
        "old": None,
        "new": "forged",
        "reason": None,
        "prev_hash": previous["hash"],
    }
    row.update(changes)
    row["hash"] = row_hash(row["prev_hash"], row)
    return row


def _insert(conn, row: dict) -> None:
    conn.execute(AuditEvent.__table__.insert().values(**row))


def test_a_back_dated_row_is_refused_even_with_a_valid_hash(loaded, register_url, capsys):
    last = _rows(loaded)[-1]
    forged = _forged(last, datetime(2017, 1, 1, tzinfo=UTC))
    with pytest.raises(DBAPIError, match="audit_event refuses"), loaded.begin() as conn:
        _insert(conn, forged)
    future = _forged(last, datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(DBAPIError, match="audit_event refuses"), loaded.begin() as conn:
        _insert(conn, future)
    assert _verify(register_url, capsys)[0] == 0


def _tamper_rewrite(conn, rows):
    conn.execute(text("UPDATE audit_event SET new = 'rewritten' WHERE id = 10"))
    return 10, "rewritten or forged"


def _tamper_delete(conn, rows):
    conn.execute(text("DELETE FROM audit_event WHERE id = 10"))
    return 11, "row 9"


def _tamper_forge(conn, rows):
    row = _forged(rows[-1], datetime.now(UTC))
    row["hash"] = "f" * 64  # whoever forged it did not know how the chain is made
    _insert(conn, row)
    return row["id"], "rewritten or forged"


def _tamper_out_of_order(conn, rows):
    # A row made to look as if it had been written earlier: chained to row 4, given id 5's
    # place after row 5 was moved out of the way.
    conn.execute(text("DELETE FROM audit_event WHERE id = 5"))
    _insert(conn, _forged(rows[3], rows[3]["at"]))
    return 6, "row 5"


def _tamper_back_date(conn, rows):
    _insert(conn, _forged(rows[-1], rows[-1]["at"] - timedelta(days=30)))
    return rows[-1]["id"] + 1, "before the row before it"


@pytest.mark.parametrize(
    "tamper",
    [_tamper_rewrite, _tamper_delete, _tamper_forge, _tamper_out_of_order, _tamper_back_date],
    ids=lambda f: f.__name__.removeprefix("_tamper_"),
)
def test_verify_finds_the_first_broken_row(
    loaded, register_url, register_owner_url, tamper, capsys
):
    rows = _rows(loaded)
    engine, conn = _unguarded(register_owner_url)
    with conn.begin():
        broken_at, why = tamper(conn, rows)
    conn.close()
    engine.dispose()
    status, output = _verify(register_url, capsys)
    assert status == 1, output
    assert f"BROKEN at row {broken_at}:" in output
    assert why in output
    assert len(output.strip().splitlines()) == 1


def test_rows_removed_from_the_end_are_found_with_the_recorded_head(
    loaded, register_url, register_owner_url, capsys
):
    status, output = _verify(register_url, capsys)
    assert status == 0
    head = _head(output)
    last = int(head.split(":")[0])
    engine, conn = _unguarded(register_owner_url)
    with conn.begin():
        conn.execute(text(f"DELETE FROM audit_event WHERE id >= {last - 2}"))
    conn.close()
    engine.dispose()
    # The chain that is left is whole: only the head recorded earlier shows what went.
    assert _verify(register_url, capsys)[0] == 0
    status, output = _verify(register_url, capsys, "--expect-head", head)
    assert status == 1
    assert f"BROKEN at row {last}: was recorded as the head earlier and is missing now" in output


def test_concurrent_writers_keep_one_chain(loaded, register_url, capsys):
    errors: list[BaseException] = []
    keys = ["tower-hamlets-2017"] * 2 + ["bromley-2016", "croydon-2017"]
    start = threading.Barrier(len(keys))

    def write(worker: int, key: str) -> None:
        engine = db.make_engine(register_url)
        try:
            start.wait()
            for n in range(8):
                with db.transaction(engine) as session:
                    if key == "tower-hamlets-2017":
                        register.update_action(
                            session, key, 1, f"w{worker}", AS_OF, note=f"note {worker}.{n}"
                        )
                    else:
                        register.recompute_all(session, AS_OF, f"w{worker}", keys=[key])
                        register.audit(session, f"w{worker}", "checked", key, f"case {key}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            engine.dispose()

    before = _count(loaded)
    threads = [threading.Thread(target=write, args=(i, k)) for i, k in enumerate(keys)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert _count(loaded) >= before + 8 * len(keys)
    status, output = _verify(register_url, capsys)
    assert status == 0, output


def test_the_cli_records_the_login_and_whom_it_acted_for(loaded, register_url, capsys):
    status = main(
        [
            "action",
            "update",
            "tower-hamlets-2017",
            "1",
            "--status",
            "amber",
            "--by",
            "Jo Bloggs",
            "--database-url",
            register_url,
            "--as-of",
            "2017-10-02",
        ]
    )
    assert status == 0, capsys.readouterr().err
    last = _rows(loaded)[-1]
    assert (last["actor"], last["on_behalf_of"]) == (getpass.getuser(), "Jo Bloggs")
    assert last["action"] == "action status changed"
    main(["case", "audit", "tower-hamlets-2017", "--database-url", register_url])
    assert f"{getpass.getuser()} for Jo Bloggs" in capsys.readouterr().out


def test_the_owner_role_is_reported_as_a_weakness(loaded, register_url, register_owner_url, capsys):
    if loaded.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    status, output = _verify(register_owner_url, capsys)
    assert status == 0
    assert "Warning: the application's role owns audit_event" in output


def test_upgrading_chains_the_rows_written_before_the_chain(register_url, register_owner_url):
    """A register written by revision 0001 (no chain) is chained, in id order, by 0002."""
    from alembic import command

    command.downgrade(db.alembic_config(register_owner_url), "0001")
    owner = db.make_engine(register_owner_url)
    now = datetime.now(UTC)
    with owner.begin() as conn:
        for n in range(1, 6):
            conn.execute(
                text(
                    "INSERT INTO audit_event (id, at, actor, action, inspection_key, entity) "
                    "VALUES (:id, :at, 'old', 'case created', 'k', 'case k')"
                ),
                {"id": n, "at": now - timedelta(minutes=10 - n)},
            )
    owner.dispose()
    db.upgrade(register_url, owner=register_owner_url)
    engine = db.make_engine(register_url)
    rows = _rows(engine)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    previous = GENESIS
    for row in rows:
        assert row["prev_hash"] == previous
        assert row["hash"] == row_hash(previous, row)
        previous = row["hash"]
    with db.transaction(engine) as session:
        register.audit(session, "tester", "after the upgrade", None, "register")
    assert _rows(engine)[-1]["prev_hash"] == previous
    engine.dispose()


def test_db_upgrade_as_the_owner_grants_the_application_role(monkeypatch, capsys):
    """`statclock db upgrade` as docker-compose's airflow-init runs it, on an empty database."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, _as_app, _drop_database

    if not POSTGRES_URL:
        pytest.skip("STATCLOCK_TEST_POSTGRES_URL is not set (./test.sh sets it)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"statclock_up_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    owner = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    app = _as_app(owner)
    if app == owner:
        pytest.skip("no separate application role on this server")
    try:
        monkeypatch.setenv(db.OWNER_URL_SETTING, owner)
        assert main(["db", "upgrade", "--database-url", app]) == 0
        output = capsys.readouterr().out
        assert f"role {make_url(app).username} granted its privileges" in output
        assert "Warning" not in output
        engine = db.make_engine(app)
        with db.transaction(engine) as session:
            register.audit(session, "tester", "written as the application", None, "register")
        with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET actor = 'x'"))
        engine.dispose()
    finally:
        _drop_database(admin, name)
        admin.dispose()
