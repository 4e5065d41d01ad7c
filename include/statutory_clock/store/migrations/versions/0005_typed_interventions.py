"""Typed DfE interventions: ``dfe_intervention.interventions``.

A JSON list, one item per intervention in the case file's ``intervention.interventions``:
``{"kind": "direction" | "improvement_notice", "date": "YYYY-MM-DD", "commissioner": bool,
"independent_chair": bool, "note": str | null}``. Existing rows get an empty list: their
``direction`` column keeps its meaning (a direction with a commissioner and an independent
chair), so no stored clock changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dfe_intervention") as batch:
        batch.add_column(
            sa.Column("interventions", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("dfe_intervention") as batch:
        batch.drop_column("interventions")
