"""Backup and restore of the register and the pack archive (scripts/backup-register.sh,
scripts/restore-register.sh) on a real PostgreSQL server with the real pg_dump and pg_restore.

A register filled as in production (``statclock demo load``, a recorded event, two board packs
made by the real assembly, so the archive holds PDFs and the audit trail their rows) is backed
up, restored into a new database and a new folder, and compared: every table row by row, every
column (the audit chain's hashes included), the sequences, the audit chain verified, and every
archive file against the SHA-256 the register recorded. Then the refusals: a non-empty
database, a non-empty folder, a damaged backup, each one line and exit 2, changing nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from statclock_airflow.ui.context import today
from statutory_clock.board_pack.assemble import ad_hoc_job, make_pack
from statutory_clock.store import db
from statutory_clock.store.models import BoardPack
from tests.conftest import POSTGRES_URL, _as_app, _drop_database, _fresh_postgres_pair

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
BACKUP = REPO / "scripts" / "backup-register.sh"
RESTORE = REPO / "scripts" / "restore-register.sh"
STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))


@dataclass(frozen=True)
class Register:
    app: str  # SQLAlchemy URL as the application's role
    owner: str  # as the owner role
    packs: Path


def run(args: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        cwd=REPO,
    )


def statclock(*args: str, url: str, owner: str | None = None) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {"STATCLOCK_DATABASE_URL": url}
    if owner:
        env["STATCLOCK_DATABASE_OWNER_URL"] = owner
    return run([STATCLOCK, *args], env)


def empty_database() -> Iterator[tuple[str, str]]:
    """(application URL, owner URL) of a new, empty database (no tables at all)."""
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"statclock_restore_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    owner = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield _as_app(owner), owner
    finally:
        _drop_database(admin, name)
        admin.dispose()


@pytest.fixture
def filled(postgres_template: str, tmp_path: Path) -> Iterator[Register]:
    for app, owner in _fresh_postgres_pair(postgres_template):
        packs = tmp_path / "var" / "packs"
        loaded = statclock("demo", "load", url=app, owner=owner)
        assert loaded.returncode == 0, loaded.stderr
        day = today().isoformat()
        event = statclock(
            "case", "event", "sampleton-2026", "written_statement_of_action", day, url=app
        )
        assert event.returncode == 0, event.stderr
        engine = db.make_engine(app)
        try:
            for key in ("sampleton-2026", "northwick-2026"):
                with db.transaction(engine) as session:
                    job = ad_hoc_job(session, {"case_key": key}, today())
                make_pack(engine, job, today(), packs.resolve(), "tester", "pm@council.example")
        finally:
            engine.dispose()
        yield Register(app, owner, packs)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Register]:
    for app, owner in empty_database():
        yield Register(app, owner, tmp_path / "restored" / "packs")


def env_for(register: Register) -> dict[str, str]:
    return {
        "STATCLOCK_DATABASE_OWNER_URL": register.owner,
        "STATCLOCK_DATABASE_URL": register.app,
        "STATCLOCK_PACKS_DIR": str(register.packs),
    }


def every_row(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, every column, in primary key order; and the sequences."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        found: dict[str, list[tuple[object, ...]]] = {}
        with engine.connect() as conn:
            for name, table in metadata.tables.items():
                order = list(table.primary_key.columns) or list(table.columns)
                found[name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
            for (seq,) in conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            ):
                found[f"sequence {seq}"] = [
                    tuple(conn.execute(text(f'SELECT last_value, is_called FROM "{seq}"')).one())
                ]
        return found
    finally:
        engine.dispose()


def backup_of(register: Register, dest: Path) -> Path:
    done = run([BACKUP, dest], env_for(register))
    assert done.returncode == 0, done.stderr
    (folder,) = dest.iterdir()
    assert folder.name.startswith("statclock-backup-") and not folder.name.endswith(".partial")
    assert folder.name in done.stdout
    return folder


def test_restore_is_the_register_row_for_row_and_the_archive_byte_for_byte(
    filled: Register, target: Register, tmp_path: Path
) -> None:
    before = every_row(filled.owner)
    assert len(before["board_pack"]) == 2 and len(before["audit_event"]) > 100
    assert any("written_statement_of_action" in str(r) for r in before["case_event"])
    folder = backup_of(filled, tmp_path / "backups")
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.sha256",
        "backup.info",
        "packs.tar",
        "register.dump",
    ]
    manifest = (folder / "MANIFEST.sha256").read_text().splitlines()
    pack_files = sorted(p for p in filled.packs.rglob("*") if p.is_file())
    assert len(pack_files) == 6  # PDF, HTML and snapshot of each pack
    assert len(manifest) == 3 + len(pack_files)

    restored = run([RESTORE, folder], env_for(target))
    assert restored.returncode == 0, restored.stderr
    assert "Restored the register" in restored.stdout
    # The application's role gets its privileges from the migrations' grant, as after a deploy.
    granted = statclock("db", "upgrade", url=target.app, owner=target.owner)
    assert granted.returncode == 0, granted.stderr

    after = every_row(target.owner)
    assert sorted(after) == sorted(before)
    for table, rows in before.items():
        assert after[table] == rows, f"{table} differs after the restore"

    head = before["audit_event"][-1]
    verified = statclock(
        "audit", "verify", "--expect-head", f"{head[0]}:{head[-1]}", url=target.app
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    engine = create_engine(target.owner)
    with engine.connect() as conn:
        packs = conn.execute(select(BoardPack.pdf_path, BoardPack.sha256)).all()
    engine.dispose()
    source = filled.packs.resolve()
    for pdf_path, sha in packs:
        copy = target.packs / Path(pdf_path).relative_to(source)
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == sha
    for original in pack_files:
        copy = target.packs / original.relative_to(filled.packs)
        assert copy.read_bytes() == original.read_bytes()
    assert len([p for p in target.packs.rglob("*") if p.is_file()]) == len(pack_files)

    # The restored register is a working one: the application's role writes to it.
    moved = statclock(
        "case",
        "event",
        "northwick-2026",
        "monitoring_audits_due_2",
        today().isoformat(),
        url=target.app,
    )
    assert moved.returncode == 0, moved.stderr


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_restore_refuses_a_database_or_folder_in_use_and_a_damaged_backup(
    filled: Register, target: Register, tmp_path: Path
) -> None:
    folder = backup_of(filled, tmp_path / "backups")
    password = make_url(filled.owner).password or "\0"

    # Into the register it came from: not empty.
    into_source = run(
        [RESTORE, folder], {**env_for(filled), "STATCLOCK_PACKS_DIR": str(tmp_path / "new")}
    )
    refused(into_source, "is not empty", "fresh, empty database")
    assert f":{password}@" not in into_source.stderr  # the URL is named without its password
    assert not (tmp_path / "new").exists()

    # Into a non-empty archive folder.
    target.packs.mkdir(parents=True)
    (target.packs / "someone-else.pdf").write_bytes(b"%PDF")
    refused(run([RESTORE, folder], env_for(target)), "STATCLOCK_PACKS_DIR", "not empty")
    (target.packs / "someone-else.pdf").unlink()

    # A damaged backup: one byte of the dump changed, then a pack in the tar.
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    dump = bytearray((damaged / "register.dump").read_bytes())
    dump[len(dump) // 2] ^= 0xFF
    (damaged / "register.dump").write_bytes(bytes(dump))
    refused(run([RESTORE, damaged], env_for(target)), "does not match MANIFEST.sha256")
    # A pack altered inside a tar that is itself consistent with the manifest: caught file by
    # file.
    altered = tmp_path / "altered"
    shutil.copytree(folder, altered)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-C", unpacked, "-xf", altered / "packs.tar"], check=True)
    (pdf,) = [p for p in unpacked.rglob("pack.pdf") if "sampleton" in str(p)]
    pdf.write_bytes(pdf.read_bytes() + b"%")
    subprocess.run(["tar", "-C", unpacked, "-cf", altered / "packs.tar", "."], check=True)
    manifest = (altered / "MANIFEST.sha256").read_text().splitlines()
    tar_sha = hashlib.sha256((altered / "packs.tar").read_bytes()).hexdigest()
    manifest = [f"{tar_sha}  packs.tar" if m.endswith("  packs.tar") else m for m in manifest]
    (altered / "MANIFEST.sha256").write_text("\n".join(manifest) + "\n")
    refused(
        run([RESTORE, altered], env_for(target)), "archive file packs/sampleton-2026/", "pack.pdf"
    )

    # A dump damaged in its data, with a manifest to match (damaged before it was summed):
    # pg_restore fails part-way, and its one transaction leaves the database empty.
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    dump = bytearray((broken / "register.dump").read_bytes())
    for at in range(len(dump) * 3 // 4, len(dump) * 3 // 4 + 64):
        dump[at] ^= 0x5A
    (broken / "register.dump").write_bytes(bytes(dump))
    dump_sha = hashlib.sha256(bytes(dump)).hexdigest()
    lines = (broken / "MANIFEST.sha256").read_text().splitlines()
    lines = [f"{dump_sha}  register.dump" if m.endswith("  register.dump") else m for m in lines]
    (broken / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")
    failed = run([RESTORE, broken], env_for(target))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the database is unchanged" in failed.stderr.strip().splitlines()[-1]

    # Nothing was written by any refusal: the target is still empty, the folder too.
    engine = create_engine(target.owner)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert list(target.packs.iterdir()) == []
    assert not any(p.name.startswith(".restore-packs") for p in target.packs.parent.iterdir())


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        ([], {}, ["usage"]),
        (["--help"], {}, ["usage"]),
        (["/tmp"], {"STATCLOCK_DATABASE_OWNER_URL": "", "STATCLOCK_DATABASE_URL": ""}, ["not set"]),
        (["/tmp"], {"STATCLOCK_DATABASE_OWNER_URL": "sqlite:///x.db"}, ["not a PostgreSQL URL"]),
    ],
)
def test_bad_invocations_are_one_line_exit_2(tmp_path, args, env, words):
    for script in (BACKUP, RESTORE):
        done = run([script, *args], {"STATCLOCK_DATABASE_URL": "", **env})
        refused(done, *words)
