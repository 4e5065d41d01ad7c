"""Closed vocabularies the register and its outputs share: where a persisted milestone stands,
and the action plan's RAG ratings with their counts.

Pure (no database, no rendering), so the read model (``store/read_model.py``) and the board
pack's snapshot (``board_pack/snapshot.py``) use one definition instead of two that can drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypedDict, get_args

from statutory_clock.engine import Status

# Where a persisted milestone stands: the engine's statuses, and "closed" for one of a closed
# case that was never done (the case closed first: history, never overdue, never chased).
MilestoneState = Status | Literal["closed"]
STATES: tuple[MilestoneState, ...] = (*get_args(Status), "closed")
# How each status is written for people: the same words in packs, pages and calendar feeds.
STATUS_LABELS: dict[str, str] = {  # keys: every MilestoneState
    "upcoming": "Upcoming",
    "due": "Due",
    "overdue": "Overdue",
    "met": "Met",
    "missed": "Missed",
    "waived": "Waived",
    # A past Ofsted or DfE act (a visit, a review) with no date on file: a prompt to record it,
    # never the council's overdue item (engine.milestone_status).
    "not_recorded": "Not recorded",
    # A milestone of a closed case that was never met, missed or waived.
    "closed": "Closed",
}

# Why a case closed: a later inspection of the same authority was registered, the DfE lifted
# its intervention, or a person closed it (saying why).
CloseReason = Literal["superseded", "intervention_lifted", "closed_by_person"]
CLOSE_REASONS: tuple[CloseReason, ...] = get_args(CloseReason)

# The action plan's ratings, in the order packs show them; "not_rated" counts items with none.
Rag = Literal["red", "amber", "green", "complete", "not_rated"]
RAG_KEYS: tuple[Rag, ...] = get_args(Rag)


class RagCountsDict(TypedDict, total=False):
    red: int
    amber: int
    green: int
    complete: int
    not_rated: int


@dataclass(frozen=True)
class RagCounts:
    """Action plan items by RAG rating."""

    red: int = 0
    amber: int = 0
    green: int = 0
    complete: int = 0
    not_rated: int = 0

    @classmethod
    def of(cls, ratings: Iterable[str | None]) -> RagCounts:
        """Counted from the ratings; None is not rated. Raises ValueError for another rating."""
        counts = dict.fromkeys(RAG_KEYS, 0)
        for rating in ratings:
            key = rating or "not_rated"
            if key not in counts:
                raise ValueError(f"status: {rating!r} is not one of {', '.join(RAG_KEYS)}")
            counts[key] += 1
        return cls(**counts)

    @classmethod
    def from_dict(cls, raw: RagCountsDict) -> RagCounts:
        return cls(
            int(raw.get("red", 0)),
            int(raw.get("amber", 0)),
            int(raw.get("green", 0)),
            int(raw.get("complete", 0)),
            int(raw.get("not_rated", 0)),
        )

    def to_dict(self) -> RagCountsDict:
        return {
            "red": self.red,
            "amber": self.amber,
            "green": self.green,
            "complete": self.complete,
            "not_rated": self.not_rated,
        }

    def count(self, key: str) -> int:
        """The count for one of RAG_KEYS (the pack's template walks them in order)."""
        value: int = getattr(self, key)
        return value

    @property
    def total(self) -> int:
        return sum(self.count(key) for key in RAG_KEYS)

    def __add__(self, other: RagCounts) -> RagCounts:
        return RagCounts(*(self.count(k) + other.count(k) for k in RAG_KEYS))


# How a contact gets reminders (case files' ``contacts[].reminders``, the register's
# ``contact.reminders``): one email per reminder, or one email a day listing them all.
ReminderChoice = Literal["each", "daily digest"]
REMINDER_CHOICES: tuple[ReminderChoice, ...] = get_args(ReminderChoice)
DAILY_DIGEST: ReminderChoice = "daily digest"
