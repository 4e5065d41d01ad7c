"""A contact's own choices: how reminders reach them (one email each, or a daily digest).

Runs in the caller's transaction, like every register change: it locks the case, moves its
version on and audits the change as an import of the same edit to the case file would
(``contact changed``, field ``reminders``), so ``statclock case audit`` shows who chose what.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from statutory_clock.store.audit import Actor, audit, bump_version
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.reading import get_case
from statutory_clock.vocabulary import REMINDER_CHOICES


@dataclass(frozen=True)
class ReminderChoiceChange:
    case_key: str
    contact: str
    email: str | None
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def set_reminders(
    session: Session,
    key: str,
    contact: str,
    choice: str,
    actor: str | Actor,
    expected_version: int | None = None,
) -> ReminderChoiceChange:
    """Set how ``contact`` of case ``key`` gets reminders: "each" or "daily digest".

    Choosing what is already set changes nothing and writes no audit row.
    """
    if choice not in REMINDER_CHOICES:
        raise RegisterError("reminders", choice, f"is not one of: {', '.join(REMINDER_CHOICES)}")
    case = get_case(session, key, lock=True)
    row = next((c for c in case.contacts if c.name == contact), None)
    if row is None:
        names = ", ".join(c.name for c in case.contacts[:8]) or "none"
        raise RegisterError(
            "contact", contact, f"is not a contact of case {key} (its contacts: {names})"
        )
    old = row.reminders or "each"
    if old != choice:
        bump_version(case, expected_version)
        audit(
            session, actor, "contact changed", key, f"contact {contact}", "reminders", old, choice
        )
        row.reminders = choice
        session.flush()
    return ReminderChoiceChange(key, contact, row.email, old, choice)
