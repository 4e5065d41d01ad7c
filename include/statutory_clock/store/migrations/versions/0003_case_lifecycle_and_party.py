"""Case lifecycle (why and when a case closed) and whose act each milestone is.

- ``inspection``: ``closed_reason`` (superseded | intervention_lifted | closed_by_person),
  ``closed_on``, ``closed_by``, ``closed_note``, ``superseded_by`` (the later case's key).
- ``milestone``: ``party`` (council | ofsted | dfe), and ``status`` widened to 20 characters
  for ``not_recorded``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inspection") as batch:
        batch.add_column(sa.Column("closed_reason", sa.String(30), nullable=True))
        batch.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("closed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("closed_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(100), nullable=True))
    with op.batch_alter_table("milestone") as batch:
        batch.add_column(
            sa.Column("party", sa.String(10), nullable=False, server_default="council")
        )
        batch.alter_column(
            "status", existing_type=sa.String(10), type_=sa.String(20), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("milestone") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(20), type_=sa.String(10), existing_nullable=False
        )
        batch.drop_column("party")
    with op.batch_alter_table("inspection") as batch:
        for column in ("superseded_by", "closed_note", "closed_by", "closed_on", "closed_reason"):
            batch.drop_column(column)
