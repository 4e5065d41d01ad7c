"""The council page's forms: what a refused submission tells the page to show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormError:
    """A refused form: which form (event, action or adjustment), which field, and the message
    (the same words as the CLI's one-line error)."""

    form: str
    field: str
    message: str
