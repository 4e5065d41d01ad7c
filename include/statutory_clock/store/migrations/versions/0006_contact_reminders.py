"""How a contact gets reminders: ``contact.reminders``.

``each`` (one email per reminder, as before) or ``daily digest`` (one email a day listing every
reminder for that contact; statutory_clock.store.outbox). Existing contacts get ``each``, so no
one's email changes until they choose. The ledger is unchanged: still one row per reminder and
recipient, which is what keeps each reminder exactly once whichever way it is sent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.add_column(
            sa.Column("reminders", sa.String(20), nullable=False, server_default=sa.text("'each'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("reminders")
