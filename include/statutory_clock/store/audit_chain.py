"""The audit trail's hash chain: how a row is sealed, and how the whole trail is verified.

Every audit row carries ``prev_hash`` (the hash of the row before it, or :data:`GENESIS` for
the first) and ``hash``, the SHA-256 of its own fields and ``prev_hash``. Rows are appended one
writer at a time (SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped advisory
lock taken before the first audit row of a transaction), each with the next id, so the chain
is the id order. Rewriting, deleting, reordering or forging a row breaks the chain from that
row on, and :func:`verify` names the first broken row.

What the chain cannot show by itself: rows removed from the *end* of the trail leave a shorter
chain that is still whole. The database refuses DELETE and TRUNCATE, the application's role has
no right to either, and :func:`verify` takes the head recorded earlier (``--expect-head``) to
prove nothing after it went missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
FIELDS = (
    "id",
    "at",
    "actor",
    "on_behalf_of",
    "action",
    "inspection_key",
    "entity",
    "field",
    "old",
    "new",
    "reason",
)
# Any constant will do: it names the one lock every audit writer on PostgreSQL takes.
PG_LOCK_KEY = 7_204_011_917


def _instant(value: Any) -> str:
    """The row's time as UTC text to the microsecond, whichever database it came back from
    (SQLite returns it without a zone; PostgreSQL in the session's zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"audit time must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text: str = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return text


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a row's fields, in a fixed order, and the previous row's hash."""
    fields: list[Any] = [prev_hash]
    for name in FIELDS:
        value = row.get(name)
        fields.append(_instant(value) if name == "at" else value)
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first row at which the chain does not hold, and why."""

    row_id: int
    problem: str


@dataclass(frozen=True)
class Verdict:
    rows: int
    head_id: int | None
    head_hash: str
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify(
    rows: Iterable[Mapping[str, Any]], expect_head: tuple[int, str] | None = None
) -> Verdict:
    """Walk the trail in id order; the first row that breaks the chain is reported.

    A row is broken when its own hash does not match its fields (rewritten or forged), when its
    ``prev_hash`` is not the hash of the row before it (a row deleted, inserted out of order or
    forged), or when it is dated before the row before it (back-dated).
    """
    previous_hash, previous_at, count, head_id = GENESIS, None, 0, None
    seen_expected = expect_head is None
    for row in rows:
        count += 1
        row_id = int(row["id"])
        if row["prev_hash"] != previous_hash:
            what = "the first row" if head_id is None else f"row {head_id}"
            return Verdict(
                count,
                head_id,
                previous_hash,
                Break(
                    row_id,
                    f"does not follow {what}: a row before it was deleted or rewritten, or this "
                    "row was inserted out of order",
                ),
            )
        if row_hash(previous_hash, row) != row["hash"]:
            return Verdict(
                count,
                head_id,
                previous_hash,
                Break(row_id, "its fields do not match its hash: rewritten or forged"),
            )
        at = _instant(row["at"])
        if previous_at is not None and at < previous_at:
            return Verdict(
                count,
                head_id,
                previous_hash,
                Break(row_id, f"is dated {at}, before the row before it ({previous_at})"),
            )
        if expect_head is not None and row_id == expect_head[0]:
            if row["hash"] != expect_head[1]:
                return Verdict(
                    count,
                    head_id,
                    previous_hash,
                    Break(row_id, "is not the row recorded as the head earlier"),
                )
            seen_expected = True
        previous_hash, previous_at, head_id = str(row["hash"]), at, row_id
    if not seen_expected and expect_head is not None:
        return Verdict(
            count,
            head_id,
            previous_hash,
            Break(expect_head[0], "was recorded as the head earlier and is missing now"),
        )
    return Verdict(count, head_id, previous_hash, None)
