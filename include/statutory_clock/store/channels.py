"""Who a ledger row is for: a person's email address, or a chat channel's incoming webhook.

The reminder ledger holds both. A webhook row's recipient is ``<platform>:<connection id>``
(``slack:statclock_slack``, ``teams:statclock_teams``), which no email address can be (the
case file schema and :func:`statutory_clock.mail_headers.recipient_address` require an
``@``-address, and neither prefix is one). Every reader of the ledger that means one channel
asks one of the two predicates below, so that a Slack post never counts as an email already
sent, and a send run never tries to email a webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, or_

from statutory_clock.store.models import ReminderLedger

Platform = Literal["slack", "teams"]
WEBHOOK_PLATFORMS: tuple[Platform, ...] = ("slack", "teams")
_PREFIXES = tuple(f"{platform}:" for platform in WEBHOOK_PLATFORMS)


@dataclass(frozen=True, slots=True)
class Channel:
    """A chat channel reached through an incoming webhook held in an Airflow connection."""

    platform: Platform
    conn_id: str

    @property
    def recipient(self) -> str:
        """The ledger's recipient for this channel, e.g. ``slack:statclock_slack``."""
        return f"{self.platform}:{self.conn_id}"


def is_webhook_recipient(recipient: str) -> bool:
    """True for a chat channel's ledger rows (``slack:...``, ``teams:...``)."""
    return recipient.startswith(_PREFIXES)


def is_email_recipient(recipient: str) -> bool:
    """True for an email's ledger rows: everything that is not a chat channel."""
    return not is_webhook_recipient(recipient)


def _starts(prefix: str) -> ColumnElement[bool]:
    # substr and =, not LIKE: LIKE ignores case on SQLite and not on PostgreSQL, and the SQL
    # must agree with the Python predicate on both.
    return func.substr(ReminderLedger.recipient, 1, len(prefix)) == prefix


def webhook_rows() -> ColumnElement[bool]:
    """:func:`is_webhook_recipient` as a SQL condition on :class:`ReminderLedger`."""
    return or_(*(_starts(prefix) for prefix in _PREFIXES))


def email_rows() -> ColumnElement[bool]:
    """:func:`is_email_recipient` as a SQL condition on :class:`ReminderLedger`."""
    return and_(*(~_starts(prefix) for prefix in _PREFIXES))
