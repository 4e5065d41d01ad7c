"""The case register's public API, one import for callers: ``register.import_case(...)``.

The work is done by modules named for their jobs, each importing only those before it:

- :mod:`~statutory_clock.store.errors`: what the register refuses (``RegisterError``).
- :mod:`~statutory_clock.store.audit`: who writes (``Actor``), the writer lock, case versions
  and the hash-chained audit trail.
- :mod:`~statutory_clock.store.reading`: cases, their facts, the register's calendar and a
  persisted milestone's status.
- :mod:`~statutory_clock.store.recompute`: bringing persisted milestones in line with the facts.
- :mod:`~statutory_clock.store.facts`: recording actual dates, action progress, extensions and
  waivers.
- :mod:`~statutory_clock.store.authorities`: listing and renaming local authorities.
- :mod:`~statutory_clock.store.lifecycle`: closing and reopening cases, and closing those a
  newly registered inspection supersedes.
- :mod:`~statutory_clock.store.case_export`: the register's rows as a case file writes them,
  and a whole case exported (canonical).
- :mod:`~statutory_clock.store.case_import`: case files in, a replacement audited difference by
  difference.
- :mod:`~statutory_clock.store.feed_tokens`: the calendar feeds' secret tokens, read and
  rotated.

Every write runs inside a caller's transaction (:func:`statutory_clock.store.db.transaction`),
takes the writer lock first, locks and version-bumps each case it changes, and audits every
change in the same transaction.
"""

from __future__ import annotations

from statutory_clock.store.audit import Actor, audit, lock_for_writing
from statutory_clock.store.authorities import (
    AuthorityRename,
    AuthoritySummary,
    list_authorities,
    rename_authority,
)
from statutory_clock.store.case_document import Lifecycle
from statutory_clock.store.case_export import export_case
from statutory_clock.store.case_import import import_case
from statutory_clock.store.errors import ConflictError, RegisterError
from statutory_clock.store.facts import RAG, adjust_milestone, record_event, update_action
from statutory_clock.store.feed_tokens import check as check_feed_token
from statutory_clock.store.feed_tokens import feed_token
from statutory_clock.store.feed_tokens import rotate as rotate_feed_token
from statutory_clock.store.lifecycle import (
    close_case,
    reopen_case,
    supersede,
    superseded_by,
)
from statutory_clock.store.reading import (
    calendar_for,
    case_facts,
    get_case,
    list_cases,
    persisted_status,
)
from statutory_clock.store.recompute import RecomputeResult, recompute, recompute_all

__all__ = [
    "RAG",
    "Actor",
    "AuthorityRename",
    "AuthoritySummary",
    "ConflictError",
    "Lifecycle",
    "RecomputeResult",
    "RegisterError",
    "adjust_milestone",
    "audit",
    "calendar_for",
    "case_facts",
    "check_feed_token",
    "close_case",
    "export_case",
    "feed_token",
    "get_case",
    "import_case",
    "list_authorities",
    "list_cases",
    "lock_for_writing",
    "persisted_status",
    "recompute",
    "recompute_all",
    "record_event",
    "rename_authority",
    "reopen_case",
    "rotate_feed_token",
    "supersede",
    "superseded_by",
    "update_action",
]
