"""Authorities are shared facts (issue 10, item 5): a case file cannot rename one; a rename is
its own command, audited on every case of the authority. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from statutory_clock.store import case_document as cd
from statutory_clock.store import db, register
from statutory_clock.store.casefile import load_case_file
from statutory_clock.store.models import AuditEvent, Inspection, LocalAuthority

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
AS_OF = date(2017, 10, 2)
STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))


def load_demo(engine) -> None:
    with db.transaction(engine) as session:
        for path in sorted(DEMO.glob("*.yaml")):
            register.import_case(session, load_case_file(path), "tester", AS_OF)


def croydon(key: str = "croydon-2017", name: str = "London Borough of Croydon") -> cd.CaseDocument:
    doc = load_case_file(DEMO / "croydon-2017.yaml")
    return dataclasses.replace(doc, key=key, local_authority=cd.LocalAuthority(name, "306"))


def snapshot(engine) -> tuple[int, dict[str, str], dict[str, int]]:
    """Audit rows, authority names and case versions: what a refused change must not touch."""
    with db.transaction(engine) as session:
        audits = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        names = dict(session.execute(select(LocalAuthority.dfe_code, LocalAuthority.name)).all())
        versions = dict(session.execute(select(Inspection.key, Inspection.version)).all())
    return audits, names, versions


@pytest.mark.parametrize("key", ["croydon-2024", "croydon-2017"], ids=["new-case", "replacement"])
def test_a_case_file_cannot_rename_a_shared_authority(register_engine, key):
    load_demo(register_engine)
    before = snapshot(register_engine)
    with (
        pytest.raises(register.RegisterError) as caught,
        db.transaction(register_engine) as session,
    ):
        register.import_case(session, croydon(key, "Croydon Council"), "pm", AS_OF, replace=True)
    assert (caught.value.field, caught.value.value) == ("local_authority.name", "Croydon Council")
    assert str(caught.value) == (
        "local_authority.name: 'Croydon Council' differs from the register's name for DfE code "
        "306 ('London Borough of Croydon'); rename it with "
        "`statclock authority rename 306 'Croydon Council'` first"
    )
    assert snapshot(register_engine) == before


def test_rename_is_audited_on_each_case_of_the_authority(register_engine):
    load_demo(register_engine)
    audits, _, versions = snapshot(register_engine)
    with db.transaction(register_engine) as session:
        renamed = register.rename_authority(
            session, "305", "Bromley Council", "pm", reason="Name adopted in 2024"
        )
    assert renamed == register.AuthorityRename(
        "305", "London Borough of Bromley", "Bromley Council", ("bromley-2010", "bromley-2016")
    )
    with db.transaction(register_engine) as session:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.id > audits).order_by(AuditEvent.id)
        ).scalars()
        assert [
            (r.action, r.inspection_key, r.entity, r.field, r.old, r.new, r.reason) for r in rows
        ] == [
            (
                "authority renamed",
                key,
                "authority 305",
                "name",
                "London Borough of Bromley",
                "Bromley Council",
                "Name adopted in 2024",
            )
            for key in ("bromley-2010", "bromley-2016")
        ]
        exported = register.export_case(register.get_case(session, "bromley-2016"))
    assert exported.local_authority == cd.LocalAuthority("Bromley Council", "305")
    _, names, after = snapshot(register_engine)
    assert names["305"] == "Bromley Council"
    # Both cases moved on a version (a writer holding an older read is refused); no other did.
    assert after == {key: v + 1 if key.startswith("bromley") else v for key, v in versions.items()}


def test_rename_of_an_authority_with_no_case_left_is_audited_once_without_a_case(
    register_engine,
):
    with db.transaction(register_engine) as session:
        register.import_case(session, croydon(), "pm", AS_OF)
    moved = dataclasses.replace(
        croydon(), local_authority=cd.LocalAuthority("Testshire County Council", "999")
    )
    with db.transaction(register_engine) as session:
        register.import_case(session, moved, "pm", AS_OF, replace=True)
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.field, AuditEvent.old, AuditEvent.new).where(
                AuditEvent.action.in_(["authority added", "case field changed"])
            )
        ).all()
    assert (
        "case field changed",
        "local_authority",
        "306 London Borough of Croydon",
        "999 Testshire County Council",
    ) in rows
    audits = snapshot(register_engine)[0]
    with db.transaction(register_engine) as session:
        assert register.rename_authority(session, "306", "Croydon", "pm").cases == ()
        row = session.execute(select(AuditEvent).where(AuditEvent.id > audits)).scalar_one()
    assert (row.action, row.inspection_key, row.old, row.new) == (
        "authority renamed",
        None,
        "London Borough of Croydon",
        "Croydon",
    )


@pytest.mark.parametrize(
    ("code", "name", "field"),
    [
        ("999", "Nowhere Council", "dfe_code"),
        ("306", "London Borough of Croydon", "name"),
        ("306", "   ", "name"),
        ("306", " Croydon", "name"),
        ("306", "Croydon\r\nBcc: attacker@example.com", "name"),
        ("306", "\x1b[31mCroydon", "name"),
        ("306", "Croydon \u202enodyorC", "name"),
        ("306", "C" * 201, "name"),
    ],
    ids=["unknown", "same", "blank", "padded", "crlf", "ansi", "bidi", "too-long"],
)
def test_refused_renames_change_nothing(register_engine, code, name, field):
    load_demo(register_engine)
    before = snapshot(register_engine)
    with (
        pytest.raises(register.RegisterError) as caught,
        db.transaction(register_engine) as session,
    ):
        register.rename_authority(session, code, name, "pm")
    assert caught.value.field == field
    assert snapshot(register_engine) == before


def test_after_a_rename_the_old_name_is_refused_and_the_new_one_accepted(register_engine):
    load_demo(register_engine)
    with db.transaction(register_engine) as session:
        register.rename_authority(session, "306", "Croydon Council", "pm")
    with (
        pytest.raises(register.RegisterError, match="differs from the register's name"),
        db.transaction(register_engine) as session,
    ):
        register.import_case(session, croydon("croydon-2024"), "pm", AS_OF)
    with db.transaction(register_engine) as session:
        register.import_case(session, croydon("croydon-2024", "Croydon Council"), "pm", AS_OF)
    with db.transaction(register_engine) as session:
        listed = register.list_authorities(session)
    assert (
        register.AuthoritySummary("306", "Croydon Council", ("croydon-2017", "croydon-2024"))
        in listed
    )
    assert [a.dfe_code for a in listed] == ["211", "305", "306", "825"]


# -- the command line ---------------------------------------------------------------------


def run(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert STATCLOCK
    env = {
        **os.environ,
        "STATCLOCK_DATABASE_URL": f"sqlite:///{database}",
        "STATCLOCK_USER": "tester",
    }
    return subprocess.run([STATCLOCK, *args], capture_output=True, text=True, env=env, timeout=120)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_refuses_the_rename_by_file_and_renames_by_command(tmp_path: Path):
    database = tmp_path / "register.db"
    assert run(database, "demo", "load", "--as-of", "2017-10-02").returncode == 0
    text = (DEMO / "croydon-2017.yaml").read_text(encoding="utf-8")
    new_case = tmp_path / "croydon-2024.yaml"
    new_case.write_text(text.replace("London Borough of Croydon", "Croydon Council", 1))
    before = digest(database)
    refused = run(database, "case", "import", str(new_case))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "statclock case: error: local_authority.name: 'Croydon Council' differs from the "
        "register's name for DfE code 306 ('London Borough of Croydon'); rename it with "
        "`statclock authority rename 306 'Croydon Council'` first"
    ]
    assert digest(database) == before

    for bad, expected in [
        (["306", "Croydon\nCouncil"], "name: 'Croydon\\nCouncil' contains"),
        (["999", "Nowhere"], "dfe_code: '999' is not an authority"),
    ]:
        result = run(database, "authority", "rename", *bad)
        assert result.returncode == 2, result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines
        assert digest(database) == before

    renamed = run(database, "authority", "rename", "306", "Croydon Council", "--reason", "New name")
    assert renamed.returncode == 0, renamed.stderr
    assert "croydon-2017" in renamed.stdout
    audit = run(database, "case", "audit", "croydon-2017")
    assert "authority renamed" in audit.stdout and "(New name)" in audit.stdout
    imported = run(database, "case", "import", str(new_case))
    assert imported.returncode == 0, imported.stderr
    listing = run(database, "authority", "list")
    assert listing.returncode == 0
    assert any(
        line.startswith("306") and "Croydon Council" in line and "croydon-2024" in line
        for line in listing.stdout.splitlines()
    )
