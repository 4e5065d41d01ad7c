"""The backstop: did today's reminders go out?"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from statutory_clock.dates import long_date
from statutory_clock.mail_headers import sealed, start_message
from statutory_clock.store.audit import Actor, audit
from statutory_clock.store.db import transaction
from statutory_clock.store.models import AuditEvent

HEARTBEAT = "reminders run completed"


def reminders_completed(engine: Engine, as_of: date) -> bool:
    with transaction(engine) as session:
        found = session.execute(
            select(AuditEvent.id).where(
                AuditEvent.action == HEARTBEAT,
                AuditEvent.entity == f"reminders {as_of.isoformat()}",
            )
        ).first()
    return found is not None


def record_heartbeat(session: Session, as_of: date, sent: int, actor: str | Actor) -> None:
    """The audit row :func:`reminders_completed` looks for: the day's sends were all tried."""
    audit(session, actor, HEARTBEAT, None, f"reminders {as_of.isoformat()}", None, None, sent)


def alert_message(as_of: date, manager: str, sender: str) -> EmailMessage:
    msg = start_message(
        subject=f"statclock ALERT: reminders have not gone out today ({long_date(as_of)})",
        sender=sender,
        recipient=manager,
        sent_at=datetime.now(UTC),
        message_id=make_msgid(domain="statclock"),
    )
    msg.set_content(
        f"The reminders for {long_date(as_of)} had not all been sent by 09:00.\n\n"
        "People may not have been told about statutory deadlines due soon. Check the "
        "`reminders` DAG in Airflow (its last run and logs) and the mail server; once fixed, "
        "re-run it: the ledger makes sure nobody gets a reminder twice.\n"
    )
    return sealed(msg)
