"""Turning the registration form (or REST API conf) into a case-file document.

The form's own JSON schema (the DAG's Params) refuses most bad values as they are typed; the
REST API may send anything, so this module checks the shape of what it reads, and the
document it builds is validated exactly as a case file is (``parse_case_data``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from statutory_clock.inputs import shown
from statutory_clock.store.casefile import CaseFileError

_TIMESCALE_SEPARATOR = " | "
SOURCE = "register_inspection"


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
