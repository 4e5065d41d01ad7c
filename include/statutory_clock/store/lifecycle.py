"""A case's lifecycle: open, or closed with a reason, and audited either way.

A case closes for one of three reasons (:data:`~statutory_clock.vocabulary.CloseReason`):

- ``superseded``: a later inspection of the same authority was registered. Recorded by the
  register itself, in the registering transaction (:func:`supersede`), whichever way the new
  case came in (``statclock case import``, the register_inspection DAG, any other caller of
  ``import_case``); "later" is a later publication date.
- ``intervention_lifted``: the DfE lifted its intervention (``statclock case close
  --intervention-lifted``).
- ``closed_by_person``: someone closed it, saying why (``statclock case close --reason``).

A closed case keeps its whole history but is never reported overdue, sends no reminders and gets
no board packs: its milestones not done when it closed are "closed" (see
:func:`statutory_clock.store.reading.persisted_status`). ``inspection.open`` stays the state flag;
the other ``closed_*`` columns say why, when and who.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from statutory_clock.dates import long_date
from statutory_clock.store.audit import Actor, as_actor, audit, bump_version
from statutory_clock.store.case_document import Lifecycle
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import Inspection
from statutory_clock.store.reading import get_case, lifecycle_of
from statutory_clock.store.recompute import recompute

CASE_CLOSED = "case closed"
CASE_REOPENED = "case reopened"


def set_lifecycle(case: Inspection, wanted: Lifecycle | None) -> None:
    """Give the case this state (no audit, no version: the caller does both)."""
    case.open = wanted is None
    case.closed_reason = wanted.reason if wanted else None
    case.closed_on = wanted.closed_on if wanted else None
    case.closed_by = wanted.by if wanted else None
    case.closed_note = wanted.note if wanted else None
    case.superseded_by = wanted.superseded_by if wanted else None


def close_case(
    session: Session,
    key: str,
    actor: str | Actor,
    as_of: date,
    note: str,
    *,
    intervention_lifted: bool = False,
    expected_version: int | None = None,
) -> Lifecycle:
    """Close an open case on ``as_of`` (a person's decision, or the intervention lifted)."""
    if not note.strip():
        raise RegisterError("reason", note, "is required: why is the case closing?")
    case = get_case(session, key, lock=True)
    if not case.open:
        raise RegisterError("case", key, f"is already closed ({_closed_text(case)})")
    if as_of < case.published:
        raise RegisterError(
            "date", as_of.isoformat(), f"is before the report ({case.published.isoformat()})"
        )
    bump_version(case, expected_version)
    closing = Lifecycle(
        reason="intervention_lifted" if intervention_lifted else "closed_by_person",
        closed_on=as_of,
        by=as_actor(actor).label,
        note=note,
    )
    set_lifecycle(case, closing)
    audit(session, actor, CASE_CLOSED, key, f"case {key}", "state", "open", "closed", note)
    session.flush()
    recompute(session, case, as_of, actor, reason=closing.describe())
    return closing


def reopen_case(
    session: Session,
    key: str,
    actor: str | Actor,
    as_of: date,
    note: str,
    *,
    expected_version: int | None = None,
) -> Inspection:
    """Reopen a closed case: its clock runs again, with reminders and packs."""
    if not note.strip():
        raise RegisterError("reason", note, "is required: why is the case reopening?")
    case = get_case(session, key, lock=True)
    if case.open:
        raise RegisterError("case", key, "is already open")
    bump_version(case, expected_version)
    was = _closed_text(case)
    set_lifecycle(case, None)
    audit(session, actor, CASE_REOPENED, key, f"case {key}", "state", "closed", "open", note)
    session.flush()
    recompute(session, case, as_of, actor, reason=f"reopened (was {was})")
    return case


def supersede(session: Session, case: Inspection, actor: str | Actor, as_of: date) -> list[str]:
    """Close what a newly registered case supersedes, in the caller's transaction.

    Every open case of the same authority published before it closes as superseded by it, on
    its publication date. A case registered after a later one (history entered late) is itself
    superseded by the next later case. Returns the keys closed. Each is audited on its own case.
    """
    others = session.execute(
        select(Inspection.key, Inspection.published, Inspection.open)
        .where(
            Inspection.local_authority_id == case.local_authority_id,
            Inspection.id != case.id,
        )
        .order_by(Inspection.published, Inspection.key)
    ).all()
    closed = []
    for key, published, is_open in others:
        if is_open and published < case.published:
            _close_superseded(session, key, case.key, case.published, actor, as_of)
            closed.append(key)
    later = [(published, key) for key, published, _ in others if published > case.published]
    if case.open and later:
        published, key = min(later)
        _close_superseded(session, case.key, key, published, actor, as_of)
        closed.append(case.key)
    return closed


def superseded_by(session: Session, key: str) -> list[str]:
    """The keys of the cases that ``key`` superseded, in key order."""
    return list(
        session.execute(
            select(Inspection.key)
            .where(Inspection.superseded_by == key, Inspection.open.is_(False))
            .order_by(Inspection.key)
        ).scalars()
    )


def _close_superseded(
    session: Session,
    key: str,
    by_key: str,
    on: date,
    actor: str | Actor,
    as_of: date,
) -> None:
    case = get_case(session, key, lock=True)
    bump_version(case, None)
    closing = Lifecycle(reason="superseded", closed_on=on, superseded_by=by_key)
    set_lifecycle(case, closing)
    audit(
        session,
        actor,
        CASE_CLOSED,
        key,
        f"case {key}",
        "state",
        "open",
        "closed",
        f"superseded by {by_key}, a later inspection of the same authority "
        f"published {long_date(on)}",
    )
    session.flush()
    recompute(session, case, as_of, actor, reason=f"superseded by {by_key}")


def _closed_text(case: Inspection) -> str:
    closing = lifecycle_of(case)
    if closing is None:
        return "open"
    return f"{closing.describe()}, on {long_date(closing.closed_on)}"
