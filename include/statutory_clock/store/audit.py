"""Who changes the register, and how: the writer lock, case versions and the audit trail.

Every write transaction first takes the writer lock (:func:`lock_for_writing`), bumps the
version of each case it changes (:func:`bump_version`) and appends one hash-chained
:func:`audit` row per change, so the trail says who changed what, when, from what to what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from statutory_clock.store.audit_chain import FIELDS, GENESIS, PG_LOCK_KEY, row_hash
from statutory_clock.store.errors import ConflictError
from statutory_clock.store.models import (
    AuditEvent,
    Inspection,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the authenticated identity (the Airflow user; the OS login for the
    CLI), and whom they say they act for (the CLI's ``--by``), recorded beside it."""

    user: str
    on_behalf_of: str | None = None

    def __str__(self) -> str:
        return f"{self.user} (for {self.on_behalf_of})" if self.on_behalf_of else self.user

    @property
    def label(self) -> str:
        """A name for a 200-character column (an event's ``recorded_by``): both names when
        they fit, else the authenticated one, which is never dropped."""
        whole = str(self)
        return whole if len(whole) <= 200 else self.user[:200]


def as_actor(actor: str | Actor) -> Actor:
    return actor if isinstance(actor, Actor) else Actor(actor)


def lock_for_writing(session: Session) -> None:
    """Become the register's one writer until this transaction ends.

    SQLite's ``BEGIN IMMEDIATE`` already serialises writers. On PostgreSQL a transaction-scoped
    advisory lock does it: the audit trail is one hash chain, so its rows must be appended one
    transaction at a time. Writers take it before any row lock, so two of them never wait on
    each other in opposite orders. Taking it twice in one transaction is harmless.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def _chain_head(session: Session) -> tuple[int, str]:
    """The last audit row's (id, hash) for this transaction, read once under the writer lock."""
    transaction = session.get_transaction()
    cached = session.info.get("statclock_audit_head")
    if cached is not None and cached[0] is transaction:
        head: tuple[int, str] = cached[1]
        return head
    lock_for_writing(session)
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last is not None else (0, GENESIS)


def audit(
    session: Session,
    actor: str | Actor,
    action: str,
    key: str | None,
    entity: str,
    field: str | None = None,
    old: object = None,
    new: object = None,
    reason: str | None = None,
) -> None:
    """Append one row to the audit trail, sealed into the hash chain."""
    who = as_actor(actor)
    head_id, head_hash = _chain_head(session)
    row = AuditEvent(
        id=head_id + 1,
        at=utc_now(),
        actor=who.user,
        on_behalf_of=who.on_behalf_of,
        action=action,
        inspection_key=key,
        entity=entity,
        field=field,
        old=_text(old),
        new=_text(new),
        reason=reason,
        prev_hash=head_hash,
    )
    row.hash = row_hash(head_hash, {name: getattr(row, name) for name in FIELDS})
    session.add(row)
    session.info["statclock_audit_head"] = (session.get_transaction(), (row.id, row.hash))


def bump_version(case: Inspection, expected_version: int | None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise ConflictError(
            "version",
            expected_version,
            f"is stale: case {case.key} is now at version {case.version}; re-read it and try again",
        )
    case.version += 1
    case.updated_at = utc_now()
