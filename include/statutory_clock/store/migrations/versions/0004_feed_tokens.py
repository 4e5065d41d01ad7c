"""Calendar feed tokens: a server secret, and each feed's token generation.

- ``register_secret``: named random secrets made here, once, by the migration (never shown,
  never audited). ``feed_token`` is the key of the HMAC that makes every feed's token: a token
  is computed, not stored, so reading a feed's address writes nothing. The application's role
  may only read this table (statutory_clock.store.db.grant_application_role).
- ``feed_token``: one row per feed whose token was ever rotated (``portfolio`` or
  ``case:<key>``): its ``generation`` (a feed with no row is at generation 0), when and by
  whom it was last rotated. Rotating adds one to the generation, which changes the token and
  makes the old address stop working (statutory_clock.store.feed_tokens).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    secret = op.create_table(
        "register_secret",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(secret, [{"name": "feed_token", "value": secrets.token_urlsafe(48)}])
    op.create_table(
        "feed_token",
        sa.Column("scope", sa.String(110), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade() -> None:
    op.drop_table("feed_token")
    op.drop_table("register_secret")
