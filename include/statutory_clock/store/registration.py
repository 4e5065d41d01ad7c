"""Turning the registration form (or REST API conf) into a case-file document, and a refusal
into one line in the form's own terms.

The form's own JSON schema (the DAG's Params) refuses most bad values as they are typed; the
REST API may send anything, so this module checks the shape of what it reads, and the
document it builds is validated exactly as a case file is (``parse_case_data``). The form's
required fields are nullable in its schema (Airflow's form marks a non-null field with no
value "This field is required" before anyone has typed a thing), so a missing one is refused
here, by :func:`check_form`, with one line naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from statutory_clock.inputs import FIRST_DAY, LAST_DAY, printable, shown
from statutory_clock.store.casefile import CaseFileError
from statutory_clock.store.errors import RegisterError

_TIMESCALE_SEPARATOR = " | "
SOURCE = "register_inspection"
# The XCom under which the registration leaves the line for its run's note (written by the
# listener in plugins/statclock_run_notes.py when the run ends).
NOTE_KEY = "run_note"
# The fields a registration cannot do without, with what to type (the form names them).
REQUIRED = {
    "local_authority": "type the council's name, e.g. London Borough of Croydon",
    "dfe_code": "type the council's three-digit DfE code, e.g. 306",
    "published": "give the day the report was published",
}
DATE_FIELDS = ("published", "received", "direction", "improvement_notice")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A case file's fields as the form names them (the longest prefix wins).
_FORM_FIELDS = {
    "key": "case_key",
    "local_authority.name": "local_authority",
    "local_authority.dfe_code": "dfe_code",
    "local_authority": "local_authority",
    "inspection.framework": "framework",
    "inspection.published": "published",
    "inspection.received": "received",
    "inspection.judgements.overall": "overall_judgement",
    "inspection.recommendations": "recommendations",
    "intervention.direction": "direction",
    "contacts[0].email": "programme_manager_email",
    "contacts": "programme_manager_email",
}


class FormRefusal(ValueError):
    """The form's facts are refused; ``str()`` is one line naming the form's field and value."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def check_form(params: Mapping[str, Any]) -> None:
    """Refuse a missing required field or a date that is not one, before anything else."""
    for name, what in REQUIRED.items():
        if params.get(name) in (None, ""):
            raise FormRefusal(name, f"is missing: {what}")
    for name in DATE_FIELDS:
        value = params.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
            raise FormRefusal(name, f"{shown(value)} is not a date (YYYY-MM-DD)")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise FormRefusal(name, f"{shown(value)} is not a date (YYYY-MM-DD)") from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise FormRefusal(
                name,
                f"{shown(value)} is outside the dates statclock accepts "
                f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})",
            )


def _form_field(field: str, areas: frozenset[str]) -> str:
    if field.startswith("inspection.judgements."):
        area = field.removeprefix("inspection.judgements.")
        if area in areas:
            return f"area_{area}"
    number = re.fullmatch(r"inspection\.recommendations\[([0-9]+)\].*", field)
    if number:
        return f"recommendations (number {int(number.group(1)) + 1})"
    for prefix in sorted(_FORM_FIELDS, key=len, reverse=True):
        if field == prefix or field.startswith((prefix + ".", prefix + "[")):
            return _FORM_FIELDS[prefix]
    return field


# The engine names the areas to give instead by their ids; the form has a field for each.
_AREAS_INSTEAD = re.compile(r"give the areas instead: ([a-z0-9_]+(?:, [a-z0-9_]+)*)$")


def _areas_instead(match: re.Match[str], areas: frozenset[str]) -> str:
    if areas and set(match.group(1).split(", ")) <= areas:
        return "give the key judgements instead, each in its own field below it"
    return match.group(0)


def refusal(exc: Exception, areas: frozenset[str] = frozenset()) -> str:
    """One line saying why the form's facts were not registered, naming the form's field and
    the value, and offering only what the form can do. ``areas``: the key judgements the form
    has a field of its own for (``area_<id>``)."""
    if isinstance(exc, FormRefusal):
        return f"Not registered: {exc}"
    if isinstance(exc, CaseFileError):
        field = _form_field(exc.field, areas)
        problem = _AREAS_INSTEAD.sub(lambda m: _areas_instead(m, areas), exc.problem)
        return f"Not registered: {printable(field, 100)}: {printable(problem, 400)}"
    if isinstance(exc, RegisterError) and exc.field == "key" and "already" in exc.problem:
        key = str(exc.value)
        # The CLI's remedy (import --replace) is no part of the form: replacing a case from the
        # form would drop every fact recorded since (events, actions, waivers), so the form
        # offers only what it can do.
        return (
            f"Not registered: case_key: {shown(key)} is already in the register, so nothing "
            f"was changed. If this is another inspection of the council, give it a case key of "
            f"its own (e.g. {key[:97]}-2)"
        )
    if isinstance(exc, RegisterError):
        return f"Not registered: {printable(exc.field, 100)}: {shown(exc.value)} {exc.problem}"
    return f"Not registered: {printable(str(exc), 500)}"


def council_of(params: Mapping[str, Any]) -> str | None:
    """The council's name as typed, when it is one plain line (for the run's note)."""
    name = params.get("local_authority")
    if isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= 200:
        return name.strip()
    return None


def case_key_for(authority: str, published: str) -> str:
    """'London Borough of Croydon', '2024-03-01' -> 'croydon-2024'."""
    name = re.sub(
        r"^(london borough of|royal borough of|city of|county of)\s+", "", authority.strip().lower()
    )
    name = re.sub(r"\s+(county|city|borough|metropolitan borough)?\s*council$", "", name)
    slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")[:80] or "case"
    return f"{slug}-{published[:4]}"


def _recommendation(number: int, entry: Any) -> dict[str, Any]:
    if isinstance(entry, Mapping):
        return {"number": number, **entry}
    text = str(entry).strip()
    timescale = None
    if _TIMESCALE_SEPARATOR in text:
        timescale, text = (part.strip() for part in text.split(_TIMESCALE_SEPARATOR, 1))
    return {"number": number, "text": text or None, "timescale": timescale, "theme": None}


def _expect(params: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = params.get(name)
    if value is not None and not isinstance(value, kind):
        raise CaseFileError(
            SOURCE, None, name, f"{shown(value)} is not valid here (expected {what})"
        )
    return value


def case_document(params: Mapping[str, Any]) -> dict[str, Any]:
    """A case-file document from the form's fields; validation is the case file's own."""
    if not isinstance(params, Mapping):
        raise CaseFileError(SOURCE, None, "(conf)", "the run's conf must be a mapping of fields")
    judgements = dict(_expect(params, "judgements", Mapping, "a mapping of area to grade") or {})
    entries = _expect(params, "recommendations", list, "a list of recommendations") or []
    if params.get("overall_judgement"):
        judgements["overall"] = params["overall_judgement"]
    for name, grade in params.items():  # the form's key judgements, one field each
        if isinstance(name, str) and name.startswith("area_") and grade:
            judgements[name.removeprefix("area_")] = grade
    published = params.get("published") or ""
    authority = params.get("local_authority") or ""
    # Cut before deriving: the derived key only needs the name's words and the year.
    key = params.get("case_key") or case_key_for(str(authority)[:300], str(published)[:10])
    contacts = []
    if params.get("programme_manager_email"):
        contacts.append(
            {
                "name": "Improvement programme manager",
                "role": "Improvement programme manager",
                "email": params["programme_manager_email"],
            }
        )
    recommendations = [
        _recommendation(n, entry)
        for n, entry in enumerate(entries, start=1)
        if (str(entry).strip() if not isinstance(entry, Mapping) else entry)
    ]
    doc: dict[str, Any] = {
        "schema_version": 1,
        "key": key,
        "local_authority": {
            "name": params.get("local_authority"),
            "dfe_code": params.get("dfe_code"),
        },
        "contacts": contacts,
        "inspection": {
            "framework": params.get("framework"),
            "published": published,
            "received": params.get("received") or None,
            "judgements": judgements,
            "recommendations": recommendations,
        },
        "intervention": _intervention(params),
    }
    return doc


def _flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CaseFileError(SOURCE, None, name, f"{shown(value)} is not valid here (true or false)")
    return value


def _intervention(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A direction with a commissioner and an independent chair stays a bare ``direction`` (its
    meaning since before interventions were typed); anything else is a typed intervention."""
    direction, notice = params.get("direction"), params.get("improvement_notice")
    commissioner = _flag(params, "direction_commissioner", True)
    direction_chair = _flag(params, "direction_independent_chair", True)
    notice_chair = _flag(params, "improvement_notice_independent_chair", False)
    if not direction and not notice:
        return None
    if direction and commissioner and direction_chair and not notice:
        return {"direction": direction}
    typed = []
    if notice:
        typed.append(
            {"kind": "improvement_notice", "date": notice, "independent_chair": notice_chair}
        )
    if direction:
        typed.append(
            {
                "kind": "direction",
                "date": direction,
                "commissioner": commissioner,
                "independent_chair": direction_chair,
            }
        )
    return {"interventions": typed}
