"""Input rules shared by every way data gets in: case files, the command line, the Airflow
registration form and REST ``conf``, and pages.

Pure (no Airflow, no database), so each entry point applies the same rules and gives the same
one-line refusal: the field, the value (shortened, with invisible characters escaped so that a
message can never rewrite the terminal or the log it lands in) and the problem.

Why these rules (issue 10):

* Single-line text (names, roles, ids, who agreed something) refuses every control and format
  character: CR and LF would become extra e-mail headers or log lines, NUL is refused by
  PostgreSQL, ANSI escapes repaint terminals, bidirectional overrides and zero-width characters
  make one name display as another. Multi-line text (notes, recommendation text, progress notes)
  allows LF and TAB only.
* Lengths fit the database columns of :mod:`statutory_clock.store.models` on PostgreSQL, which
  enforces them (SQLite does not); ``Text`` columns get :data:`LONG_TEXT` so that a 10 MB note
  is refused rather than stored.
* Dates fall within :data:`FIRST_DAY` .. :data:`LAST_DAY`: outside it, date arithmetic overflows
  and no Ofsted framework applies anyway.
* Integers fall within ranges a council's plan can have, far below any column's limit.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2100, 12, 31)
LONG_TEXT = 10_000  # characters: the cap for Text columns (notes, recommendation text)
MAX_YAML_BYTES = 1_000_000  # a real case file is under 30 KB
MAX_DEPTH = 20  # a real case file nests 7 levels deep
INT32_MAX = 2**31 - 1

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII: \d matches any script's digits
_ISO_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_CASE_KEY = re.compile(r"[a-z0-9][a-z0-9-]{1,99}")
_MILESTONE_ID = re.compile(r"[a-z][a-z0-9_]{0,99}")

T = TypeVar("T")


class InputError(ValueError):
    """Refused input. ``str()`` is one line: ``field: 'value' problem``."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        self.path: tuple[str | int, ...] = ()  # where in a document, when it came from one
        super().__init__(f"{printable(field)}: {self.detail}")

    @property
    def detail(self) -> str:
        """The message without the field name (for argparse, which names the option itself)."""
        return f"{shown(self.value)} {self.problem}"


# -- showing values in messages ------------------------------------------------------------


def printable(text: str, limit: int = 80) -> str:
    """``text`` with every control, format and line-separator character escaped, shortened."""
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: object, limit: int = 60) -> str:
    """A value as a message shows it: quoted, escaped, and shortened if long."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 200:  # str() of a 5,000-digit number raises ValueError
            return f"a number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
        return str(value)
    if isinstance(value, str):
        text = repr(value[:limit])  # repr escapes control and format characters
        if len(value) > limit:
            return f"{text[:-1]}...{text[-1]} ({len(value):,} characters)"
        return text
    if isinstance(value, date):
        return repr(value.isoformat())
    if isinstance(value, Mapping | list | tuple):
        return f"a {type(value).__name__} of {len(value):,} entries"
    return printable(repr(value), limit)


# -- text ------------------------------------------------------------------------------------

_CONTROL_NAMES = {
    "\n": "a line break (LF)",
    "\r": "a line break (CR)",
    "\x00": "a NUL character",
    "\t": "a tab",
    "\x1b": "an escape character (ANSI terminal codes)",
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def _forbidden(text: str, multi_line: bool) -> str | None:
    """Describe the first character ``text`` may not contain, or None."""
    if text.isprintable():  # the common case, at C speed
        return None
    for char in text:
        if char.isprintable() or char == " " or (multi_line and char in "\n\t"):
            continue
        category = unicodedata.category(char)
        if category in ("Zs", "Co", "Cn"):  # other spaces, private use, unassigned: harmless
            continue
        name = _CONTROL_NAMES.get(char)
        if name is None and ("\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069"):
            name = f"a bidirectional override (U+{ord(char):04X})"
        elif name is None and category == "Cf":
            name = f"an invisible format character (U+{ord(char):04X})"
        elif name is None and category == "Cs":
            name = f"a lone surrogate (U+{ord(char):04X}), which is not text"
        elif name is None:
            name = f"a control character (U+{ord(char):04X})"
        return name
    return None


@dataclass(frozen=True)
class Text:
    """A text field: at most ``max_length`` characters; one line unless ``multi_line``."""

    max_length: int
    multi_line: bool = False

    def check(self, field: str, value: str) -> str:
        if len(value) > self.max_length:
            raise InputError(
                field,
                value,
                f"is too long: at most {self.max_length:,} characters are allowed",
            )
        bad = _forbidden(value, self.multi_line)
        if bad is not None:
            where = "" if self.multi_line else " (it must be one line of plain text)"
            raise InputError(field, value, f"contains {bad}{where}")
        return value


@dataclass(frozen=True)
class Email:
    """An e-mail address someone can be sent reminders at."""

    max_length: int = 300  # contact.email, reminder_ledger.recipient

    def check(self, field: str, value: str) -> str:
        Text(self.max_length).check(field, value)
        if not value.isascii():
            # smtplib cannot send to it without SMTPUTF8, and look-alike letters from other
            # scripts are a classic way to redirect mail.
            raise InputError(field, value, "is not a plain ASCII e-mail address")
        from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

        domain = value.rpartition("@")[2].lower()
        probe = value
        if any(domain == d or domain.endswith("." + d) for d in SPECIAL_USE_DOMAIN_NAMES):
            # Reserved names (.localhost, .test, .invalid) are what the demo and tests use; the
            # library refuses them outright, so check the rest of the address with a stand-in.
            probe = value + ".example"
        try:
            validate_email(probe, check_deliverability=False, globally_deliverable=False)
        except EmailNotValidError as exc:
            reason = str(exc).rstrip(".").replace("period", "full stop")  # British English
            raise InputError(field, value, f"is not a valid e-mail address ({reason})") from None
        return value


# -- dates and numbers -------------------------------------------------------------------------


def check_day(field: str, value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise InputError(
            field,
            value.isoformat(),
            f"is outside the dates statclock accepts "
            f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})",
        )
    return value


def parse_day(field: str, text: str) -> date:
    """``YYYY-MM-DD`` strictly, a real calendar date, within the accepted range."""
    if not _ISO_DAY.fullmatch(text):  # fullmatch: a trailing newline is not a date
        raise InputError(field, text, "is not a date in the form YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(field, text, "is not a real calendar date") from None
    return check_day(field, day)


def parse_month(field: str, text: str) -> str:
    if not _ISO_MONTH.fullmatch(text) or not 1 <= int(text[5:]) <= 12:
        raise InputError(field, text, "is not a month in the form YYYY-MM")
    check_day(field, date(int(text[:4]), int(text[5:]), 1))
    return text


@dataclass(frozen=True)
class Day:
    def check(self, field: str, value: str) -> str:
        parse_day(field, value)
        return value


@dataclass(frozen=True)
class Month:
    def check(self, field: str, value: str) -> str:
        return parse_month(field, value)


@dataclass(frozen=True)
class Whole:
    """A whole number within ``low``..``high``."""

    low: int
    high: int

    def check(self, field: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(field, value, "is not a whole number")
        if not self.low <= value <= self.high:
            raise InputError(field, value, f"is outside {self.low} to {self.high}")
        return value

    def parse(self, field: str, text: str) -> int:
        digits = text.removeprefix("-")
        if not digits.isdigit() or not digits.isascii():
            raise InputError(field, text, "is not a whole number")
        if len(digits) > 20:  # int() of a 10,000-digit text is slow, then refused
            raise InputError(field, text, f"is outside {self.low} to {self.high}")
        return self.check(field, int(text))


def case_key(field: str, text: str) -> str:
    if not _CASE_KEY.fullmatch(text):
        raise InputError(
            field, text, "is not a case key (2-100 lower-case letters, digits and hyphens)"
        )
    return text


def milestone_id(field: str, text: str) -> str:
    if not _MILESTONE_ID.fullmatch(text):
        raise InputError(
            field, text, "is not a milestone id (lower-case letters, digits and underscores)"
        )
    return text


# -- forms ----------------------------------------------------------------------------------------

# The same rules as JSON-schema patterns, for forms that validate as they are filled in (the
# Airflow trigger form's Params; pages). Python's ``$`` also matches before a final newline, so
# each pattern ends with a look-ahead that refuses one; the classes list the control, format,
# bidirectional and separator characters by range so that JavaScript reads them the same way.
# The server still applies the full rules (``parse_case_data``).
_FORMAT_CHARS = (
    "\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e"
    "\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb"
)
SINGLE_LINE_PATTERN = f"^[^\\u0000-\\u001f{_FORMAT_CHARS}]*$(?![\\s\\S])"
MULTI_LINE_PATTERN = f"^[^\\u0000-\\u0008\\u000b-\\u001f{_FORMAT_CHARS}]*$(?![\\s\\S])"
DFE_CODE_PATTERN = "^[0-9]{3}$(?![\\s\\S])"
CASE_KEY_PATTERN = "^[a-z0-9][a-z0-9-]{1,99}$(?![\\s\\S])"
AREA_PATTERN = "^[a-z][a-z0-9_]{0,59}$(?![\\s\\S])"
EMAIL_PATTERN = "^[^@\\s]+@[^@\\s]+$(?![\\s\\S])"


# -- the command line ----------------------------------------------------------------------------


def argument(check: Callable[[str, str], T], field: str = "value") -> Callable[[str], T]:
    """An argparse ``type=`` from a rule: argparse names the option, the rule the problem."""

    def convert(text: str) -> T:
        try:
            return check(field, text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(exc.detail) from None

    convert.__name__ = getattr(check, "__name__", "value")
    return convert


def text_argument(max_length: int, multi_line: bool = False) -> Callable[[str], str]:
    return argument(Text(max_length, multi_line).check)


# Command-line options and positional arguments, by what they are stored in.
PERSON = 200  # agreed_by, recorded_by, audit actor: String(200)
BY = 100  # --by is stored as "login (for BY)" in String(200) columns
REASON = 1_000  # one line: it is shown in the audit trail and in letters
EXPECTED_VERSION = Whole(1, INT32_MAX)
ACTION_NUMBER = Whole(1, 10_000)
RECOMMENDATION_NUMBER = Whole(1, 999)


# -- case documents ----------------------------------------------------------------------------

Rule = Text | Email | Day | Month
KEY_TEXT = Text(100)  # any mapping key
DEFAULT_TEXT = Text(200)  # a string the table does not name: one short line
_NOTE = Text(LONG_TEXT, multi_line=True)
_NAME = Text(200)  # String(200) name columns
# A contact's name is also written into the audit trail's entity column, String(150), as
# "contact NAME"; and it is what milestone owners and escalations refer to.
_CONTACT_NAME = Text(140)
_DAY, _MONTH = Day(), Month()

# Each string field of a case file, by its shape: list positions are "[]", and the keys of
# free-form mappings (judgements, milestone owners, source entries) are "*".
CASE_FILE_TEXT: dict[str, Rule] = {
    "key": Text(100),
    "local_authority.name": _NAME,
    "local_authority.dfe_code": Text(10),
    "contacts[].name": _CONTACT_NAME,
    "contacts[].role": Text(300),
    "contacts[].email": Email(),
    "contacts[].phone": Text(50),
    "contacts[].escalation_to": _CONTACT_NAME,
    "contacts[].reminders": Text(20),
    "inspection.framework": Text(30),
    "inspection.title": Text(1_000),
    "inspection.notified": _DAY,
    "inspection.fieldwork_start": _DAY,
    "inspection.fieldwork_end": _DAY,
    "inspection.published": _DAY,
    "inspection.published.month": _MONTH,
    "inspection.received": _DAY,
    "inspection.judgements.*": Text(30),
    "inspection.lscb_review": Text(30),
    "inspection.rounding": Text(20),
    "inspection.recommendations[].text": _NOTE,
    "inspection.recommendations[].timescale": Text(50),
    "inspection.recommendations[].theme": Text(200),
    "inspection.action_plan[].current_strategy": _NOTE,
    "inspection.action_plan[].required_outcome": _NOTE,
    "inspection.action_plan[].lead_officer": Text(300),
    "inspection.action_plan[].key_tasks": _NOTE,
    "inspection.action_plan[].progress[].date": _DAY,
    "inspection.action_plan[].progress[].note": _NOTE,
    "inspection.action_plan[].target_date": _DAY,
    "inspection.action_plan[].target_date.month": _MONTH,
    "inspection.action_plan[].status": Text(10),
    "inspection.action_plan[].smt_lead": Text(300),
    "inspection.milestone_owners.*": _CONTACT_NAME,
    "inspection.adjustments[].milestone": Text(100),
    "inspection.adjustments[].extended_to": _DAY,
    "inspection.adjustments[].reason": Text(REASON),
    "inspection.adjustments[].agreed_by": Text(PERSON),
    "intervention.direction": _DAY,
    "intervention.commissioner": _NAME,
    "intervention.independent_chair": _NAME,
    "intervention.adviser": _NAME,
    "intervention.reviews": Text(30),
    "intervention.notes": _NOTE,
    "intervention.interventions[].kind": Text(30),
    "intervention.interventions[].date": _DAY,
    "intervention.interventions[].note": _NOTE,
    "board.name": _NAME,
    "board.chair": _NAME,
    "board.cadence": Text(20),
    "board.cadence_changes[].from": _DAY,
    "board.cadence_changes[].from.month": _MONTH,
    "board.cadence_changes[].cadence": Text(20),
    "board.cadence_changes[].note": _NOTE,
    "board.meetings[]": _DAY,
    "board.meetings[].month": _MONTH,
    "board.other_reporting[].body": _NAME,
    "board.other_reporting[].cadence": Text(20),
    "board.other_reporting[].note": _NOTE,
    "board.distribution[]": Email(),
    "sources[].*": Text(2_000),
    "notes": _NOTE,
    "lifecycle.state": Text(10),
    "lifecycle.reason": Text(30),
    "lifecycle.closed_on": _DAY,
    "lifecycle.by": Text(PERSON),
    "lifecycle.note": _NOTE,
    "lifecycle.superseded_by": Text(100),
}
for _kind in ("events", "planned"):
    CASE_FILE_TEXT |= {
        f"inspection.{_kind}[].milestone": Text(100),
        f"inspection.{_kind}[].date": _DAY,
        f"inspection.{_kind}[].month": _MONTH,
        f"inspection.{_kind}[].note": _NOTE,
        f"inspection.{_kind}[].recorded_by": Text(PERSON),
    }

CASE_FILE_NUMBERS: dict[str, Whole] = {
    "schema_version": Whole(1, 1),
    "inspection.recommendations[].number": RECOMMENDATION_NUMBER,
    "inspection.action_plan[].recommendation": RECOMMENDATION_NUMBER,
}
DEFAULT_NUMBER = Whole(-INT32_MAX, INT32_MAX)

_FREE_MAPPINGS = {"inspection.judgements", "inspection.milestone_owners", "sources[]"}


def _shape(parent: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{parent}[]"
    if parent in _FREE_MAPPINGS:
        return f"{parent}.*"
    return f"{parent}.{part}" if parent else part


def _field(path: tuple[str | int, ...]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(top level)"


def check_depth(data: object, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than ``limit`` (walked without recursion)."""
    todo: list[tuple[object, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while todo:
        value, depth, path = todo.pop()
        if isinstance(value, Mapping | list):
            if depth > limit:
                error = InputError(_field(path), value, f"is nested more than {limit} levels deep")
                error.path = path
                raise error
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            todo.extend((v, depth + 1, (*path, k)) for k, v in items)


def _walk(
    value: object, path: tuple[str | int, ...], shape: str
) -> Iterator[tuple[object, tuple[str | int, ...], str]]:
    todo = [(value, path, shape)]
    while todo:
        item = todo.pop()
        yield item
        value, path, shape = item
        if isinstance(value, Mapping):
            for k, v in reversed(list(value.items())):
                key = str(k)
                yield key, (*path, key), "(key)"
                todo.append((v, (*path, key), _shape(shape, key)))
        elif isinstance(value, list):
            for i in reversed(range(len(value))):
                todo.append((value[i], (*path, i), _shape(shape, i)))


def check_case_document(doc: Mapping[str, object]) -> None:
    """Apply the text, date and number rules to every value of a schema-valid case document.

    Raises :class:`InputError` with ``path`` set for the first value refused, in document order.
    """
    for value, path, shape in _walk(doc, (), ""):
        try:
            if shape == "(key)" and isinstance(value, str):
                KEY_TEXT.check(_field(path), value)
            elif isinstance(value, str):
                CASE_FILE_TEXT.get(shape, DEFAULT_TEXT).check(_field(path), value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                # A float here passed the schema as an integer field (1.0 is "integer" there).
                CASE_FILE_NUMBERS.get(shape, DEFAULT_NUMBER).check(_field(path), value)
        except InputError as error:
            error.path = path
            raise
