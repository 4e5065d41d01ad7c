"""The council page's three forms: parsed and checked into typed requests, or one refusal.

Each form arrives as text fields (``application/x-www-form-urlencoded``). The rules are the
command line's (:mod:`statutory_clock.inputs`): the same lengths, the same refusal of control
characters, the same date range, the same words. Dates come from the GOV.UK date input, three
fields ``<name>-day``, ``<name>-month`` and ``<name>-year``, with GOV.UK's messages ("Date must be
a real date") followed by the values typed.

Whatever arrives (a megabyte of text, a NUL, a position of "1e9", a RAG of "purple"), the
parsers either return a frozen request or raise :class:`FormInvalid` carrying a
:class:`FormError`: never another exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeVar, get_args

from statutory_clock.inputs import (
    ACTION_NUMBER,
    EXPECTED_VERSION,
    LONG_TEXT,
    PERSON,
    REASON,
    InputError,
    Text,
    check_day,
    milestone_id,
    shown,
)
from statutory_clock.vocabulary import RAG_KEYS, Rag

FormName = Literal["event", "action", "adjustment"]
FORMS: tuple[FormName, ...] = get_args(FormName)
AdjustmentKind = Literal["extension", "waiver"]
ADJUSTMENT_KINDS: tuple[AdjustmentKind, ...] = get_args(AdjustmentKind)

# The rules of the command line's options for the same values (register_cli.py).
NOTE = Text(LONG_TEXT, multi_line=True)
REASON_TEXT = Text(REASON)
PERSON_TEXT = Text(PERSON)

# What people call each field, for messages.
LABELS = {
    "milestone": "Milestone",
    "date": "Date",
    "note": "Note",
    "position": "Action",
    "rag": "RAG status",
    "kind": "Extension or waiver",
    "extended": "New due date",
    "reason": "Reason",
    "agreed_by": "Agreed by",
    "version": "Version",
    "form": "Form",
}


@dataclass(frozen=True)
class FormError:
    """A refused form: which form, which field (its name in the form; for a date, the date
    input's name, e.g. ``date``), and one message naming the field and the value."""

    form: str
    field: str
    message: str


class FormInvalid(ValueError):
    """Raised by the parsers; ``error`` is what the page shows."""

    def __init__(self, error: FormError) -> None:
        self.error = error
        super().__init__(error.message)


@dataclass(frozen=True)
class EventForm:
    """Record the actual date of a milestone (a visit held, the plan submitted)."""

    milestone: str
    day: date
    note: str | None
    version: int


@dataclass(frozen=True)
class ActionForm:
    """Rate an action (RAG) and/or add a dated progress note."""

    position: int
    rag: Rag
    note: str | None
    note_date: date | None  # None: today
    version: int


@dataclass(frozen=True)
class AdjustmentForm:
    """An extension to a later due date, or a waiver, with the reason and who agreed it."""

    milestone: str
    kind: AdjustmentKind
    extended_to: date | None  # set for an extension, None for a waiver
    reason: str
    agreed_by: str
    version: int


T = TypeVar("T")


def label(field: str) -> str:
    return LABELS.get(field, field)


def refuse(form: str, field: str, message: str) -> FormInvalid:
    return FormInvalid(FormError(form, field, message))


class _Fields:
    """One form's submitted fields, each read under the form's name for its refusals."""

    def __init__(self, form: FormName, data: Mapping[str, str]) -> None:
        self.form, self.data = form, data

    def get(self, name: str) -> str:
        return self.data.get(name, "")

    def rule(self, field: str, check: Callable[[str, str], T], text: str) -> T:
        try:
            return check(label(field), text)
        except InputError as exc:
            raise refuse(self.form, field, str(exc)) from None

    def required(self, field: str, what: str) -> str:
        text = self.get(field)
        if not text.strip():
            raise refuse(self.form, field, f"{label(field)}: {shown(text)} is empty: {what}")
        return text

    def multi_line(self, field: str) -> str | None:
        # Browsers send a textarea's line breaks as CR LF; the register stores LF. A lone CR
        # is still refused by the rule.
        text = self.get(field).replace("\r\n", "\n")
        if not text.strip():
            return None
        return self.rule(field, NOTE.check, text)

    def choice(self, field: str, allowed: tuple[T, ...], what: str) -> T:
        text = self.get(field)
        for option in allowed:
            if text == option:
                return option
        options = ", ".join(str(o) for o in allowed)
        raise refuse(self.form, field, f"{label(field)}: {shown(text)} is not {what} ({options})")

    def version(self) -> int:
        return self.rule("version", EXPECTED_VERSION.parse, self.get("version"))

    def day(self, field: str, *, required: bool) -> date | None:
        """A GOV.UK date input: ``<field>-day``, ``-month`` and ``-year``."""
        parts = {part: self.get(f"{field}-{part}").strip() for part in ("day", "month", "year")}
        name = label(field)
        typed = ", ".join(f"{part} {shown(self.get(f'{field}-{part}'))}" for part in parts)
        if not any(parts.values()):
            if required:
                raise refuse(self.form, field, f"Enter the {name.lower()} ({typed})")
            return None
        missing = [part for part, text in parts.items() if not text]
        if missing:
            raise refuse(
                self.form, field, f"{name} must include a {' and a '.join(missing)} ({typed})"
            )
        if not all(text.isascii() and text.isdigit() and len(text) <= 4 for text in parts.values()):
            raise refuse(self.form, field, f"{name} must be a real date ({typed})")
        if len(parts["year"]) != 4:
            raise refuse(self.form, field, f"Year must include 4 numbers ({typed})")
        try:
            day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:
            raise refuse(self.form, field, f"{name} must be a real date ({typed})") from None
        try:
            return check_day(name, day)
        except InputError as exc:
            raise refuse(self.form, field, str(exc)) from None


def parse_event(data: Mapping[str, str]) -> EventForm:
    fields = _Fields("event", data)
    milestone = fields.rule("milestone", milestone_id, fields.get("milestone"))
    day = fields.day("date", required=True)
    assert day is not None  # required
    return EventForm(milestone, day, fields.multi_line("note"), fields.version())


def parse_action(data: Mapping[str, str]) -> ActionForm:
    fields = _Fields("action", data)
    position = fields.rule("position", ACTION_NUMBER.parse, fields.get("position"))
    rag = fields.choice("rag", RAG_KEYS, "a RAG status")
    note = fields.multi_line("note")
    note_date = fields.day("date", required=False)
    return ActionForm(position, rag, note, note_date, fields.version())


def parse_adjustment(data: Mapping[str, str]) -> AdjustmentForm:
    fields = _Fields("adjustment", data)
    milestone = fields.rule("milestone", milestone_id, fields.get("milestone"))
    kind = fields.choice("kind", ADJUSTMENT_KINDS, "an extension or a waiver")
    extended_to = fields.day("extended", required=True) if kind == "extension" else None
    reason = fields.rule(
        "reason",
        REASON_TEXT.check,
        fields.required("reason", "say why the extension or waiver was agreed"),
    )
    agreed_by = fields.rule(
        "agreed_by", PERSON_TEXT.check, fields.required("agreed_by", "say who agreed it")
    )
    return AdjustmentForm(milestone, kind, extended_to, reason, agreed_by, fields.version())


PARSERS: dict[FormName, Callable[[Mapping[str, str]], EventForm | ActionForm | AdjustmentForm]] = {
    "event": parse_event,
    "action": parse_action,
    "adjustment": parse_adjustment,
}
