"""Failed reminder rows, and a hash-chained, tamper-evident audit trail.

- ``reminder_ledger``: ``attempts`` and ``failure`` (a message that could not be built or sent
  is marked ``failed`` with its reason instead of stopping every other council's run).
- ``audit_event``: ``on_behalf_of`` (the CLI's ``--by``: ``actor`` is now the authenticated
  identity), ``prev_hash`` and ``hash`` (each row's SHA-256 chained to the previous row's).
  Existing rows are chained in id order. The database refuses UPDATE, DELETE, TRUNCATE,
  REPLACE and back-dated rows (see :mod:`statutory_clock.store.audit_chain`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from statutory_clock.store.audit_chain import GENESIS, row_hash

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# How far an audit row's own time may be from the database server's clock. Wide enough for
# clock skew between application and database hosts; far narrower than any useful back-dating.
_SKEW = "1 hour"

_PG_GUARD = f"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.at < clock_timestamp() - interval '{_SKEW}'
           OR NEW.at > clock_timestamp() + interval '{_SKEW}' THEN
            RAISE EXCEPTION 'audit_event refuses a row dated %: rows are recorded as they happen',
                NEW.at;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _sqlite_triggers() -> list[str]:
    abort = "SELECT RAISE(ABORT, 'audit_event is append-only: {} refused'); END"
    return [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event BEGIN "
        + abort.format("UPDATE"),
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN "
        + abort.format("DELETE"),
        # REPLACE / INSERT OR REPLACE deletes the clashing row without firing DELETE triggers
        # (recursive_triggers is off), so refuse any insert whose id is already taken.
        "CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event "
        "WHEN EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id) BEGIN "
        + abort.format("REPLACE"),
        "CREATE TRIGGER audit_event_no_backdating BEFORE INSERT ON audit_event "
        f"WHEN NEW.at < datetime('now', '-{_SKEW}') OR NEW.at > datetime('now', '+{_SKEW}') "
        "BEGIN SELECT RAISE(ABORT, 'audit_event refuses a back-dated or future row'); END",
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("reminder_ledger") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failure", sa.Text(), nullable=True))

    if postgres:
        op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")
    op.add_column("audit_event", sa.Column("on_behalf_of", sa.String(200), nullable=True))
    op.add_column("audit_event", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_event", sa.Column("hash", sa.String(64), nullable=True))
    _chain_existing_rows()
    with op.batch_alter_table("audit_event") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)

    if postgres:
        op.execute(_PG_GUARD)
        op.execute(
            "CREATE TRIGGER audit_event_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_guard()"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()"
        )
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)


def _chain_existing_rows() -> None:
    table = sa.table(
        "audit_event",
        *(
            sa.column(name)
            for name in (
                "id", "at", "actor", "on_behalf_of", "action", "inspection_key", "entity",
                "field", "old", "new", "reason", "prev_hash", "hash",
            )
        ),
    )  # fmt: skip
    bind = op.get_bind()
    previous = GENESIS
    for row in bind.execute(sa.select(table).order_by(table.c.id)).mappings().all():
        digest = row_hash(previous, dict(row))
        bind.execute(
            table.update().where(table.c.id == row["id"]).values(prev_hash=previous, hash=digest)
        )
        previous = digest


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER audit_event_guard ON audit_event")
        op.execute("DROP FUNCTION audit_event_guard()")
    else:
        for name in ("update", "delete", "replace", "backdating"):
            op.execute(f"DROP TRIGGER audit_event_no_{name}")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("on_behalf_of")
    with op.batch_alter_table("reminder_ledger") as batch:
        batch.drop_column("failure")
        batch.drop_column("attempts")
    if postgres:
        op.execute(
            "CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP; END; "
            "$$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for statement in _sqlite_triggers()[:2]:
            op.execute(statement)
