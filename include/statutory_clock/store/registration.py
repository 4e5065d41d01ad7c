"""Turning the registration form (or REST API conf) into a case-file document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TIMESCALE_SEPARATOR = " | "


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


def case_document(params: Mapping[str, Any]) -> dict[str, Any]:
    """A case-file document from the form's fields; validation is the case file's own."""
    judgements = dict(params.get("judgements") or {})
    if params.get("overall_judgement"):
        judgements["overall"] = params["overall_judgement"]
    published = str(params.get("published") or "")
    key = params.get("case_key") or case_key_for(
        str(params.get("local_authority") or ""), published
    )
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
        for n, entry in enumerate(params.get("recommendations") or [], start=1)
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
        "intervention": ({"direction": params["direction"]} if params.get("direction") else None),
    }
    return doc
