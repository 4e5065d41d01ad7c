"""Local overrides: an operator's overlay on the bundled rulebooks.

A council that reads a rule differently from the bundled rulebook (the action planning visit's
"25 to 35 days" in calendar days, say) names a YAML file in the setting
``STATCLOCK_RULES_OVERLAY``::

    # /etc/statclock/overlay.yaml
    notes: Agreed with our Ofsted link inspector, 3 March 2026.
    overrides:
      sif.action_planning_visit:
        unit: calendar_days
        offset: 35
        window: {start_offset: 25}

It may change an existing rule's ``unit``, ``offset`` or ``window`` (its ``start_offset``, or
null for none), nothing else: the source, confidence, anchor and the rest stay as published.
It is validated with the rulebook schema's own definitions of those fields, and every milestone
of a changed rule says "local override" in its basis line. The file's SHA-256 goes into the
audit trail with every stored date it changes (store/recompute.py).

The overlay is read by :func:`statutory_clock.rules.load_rulebooks` when a clock is computed,
never at import time, and never by the helpers that only need the judgement scales (the DAG
forms read those when they are parsed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from statutory_clock.rules import (
    _COUNTING_FOR_UNIT,
    _YAML_LOADER,
    OVERLAY_SETTING,
    Rule,
    Rulebook,
    RulebookError,
    _check_references,
    _no_dates,
)

CHANGEABLE = ("unit", "offset", "window")
_TOP_LEVEL = ("overrides", "notes")


class OverlayError(RulebookError):
    """The overlay file is missing or invalid: one line naming the file, the rule and the key.
    Bad input from the operator, so the command line exits 2 (not 1 as for a broken bundled
    rulebook)."""


def overlay_path() -> str | None:
    """The overlay file the setting names, or None."""
    value = os.environ.get(OVERLAY_SETTING, "").strip()
    return value or None


@cache
def _validator() -> Any:
    """The overlay's schema, made of the rulebook schema's own definitions of the fields an
    overlay may change, so the two can never disagree on what a unit or an offset is."""
    import jsonschema

    rulebook_schema = json.loads(
        resources.files("statutory_clock.rules").joinpath("schema.json").read_text("utf-8")
    )
    rule = rulebook_schema["$defs"]["rule"]["properties"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["overrides"],
        "properties": {
            "notes": {"type": "string"},
            "overrides": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {
                    "type": "object",
                    "minProperties": 1,
                    "properties": {name: rule[name] for name in CHANGEABLE},
                },
            },
        },
        "$defs": {"unit": rulebook_schema["$defs"]["unit"]},
    }
    return jsonschema.Draft202012Validator(schema)


def _amount(offset: int, unit: str, start: int | None) -> str:
    words = unit.replace("_", " ")
    if abs(offset) == 1:
        words = words.removesuffix("s")
    span = (
        f"{start} to {abs(offset)}" if start is not None and start != offset else str(abs(offset))
    )
    return f"{span} {words}" + (" before" if offset < 0 else "")


def _describe(rule: Rule) -> str:
    return _amount(rule.offset, rule.unit, rule.window_start_offset)


def read_overlay(path: str) -> tuple[dict[str, dict[str, Any]], str]:
    """The overlay's changes (rule ref -> the fields it sets) and its SHA-256, validated."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OverlayError(
            f"{path} ({OVERLAY_SETTING}): cannot read the rules overlay ({exc.strerror})"
        ) from None
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise OverlayError(
            f"{path}{line}: the rules overlay is not valid YAML ({exc.__class__.__name__})"
        ) from None
    if not isinstance(raw, Mapping):
        raise OverlayError(f"{path}: the rules overlay must be a mapping with 'overrides'")
    raw = _no_dates(raw)
    for key in raw:
        if key not in _TOP_LEVEL:
            raise OverlayError(
                f"{path}, key {key}: a rules overlay has only 'overrides' (and 'notes')"
            )
    overrides = raw.get("overrides")
    if isinstance(overrides, Mapping):
        for ref, fields in overrides.items():
            for key in fields if isinstance(fields, Mapping) else ():
                if key not in CHANGEABLE:
                    raise OverlayError(
                        f"{path}, rule {ref}, key {key}: an overlay may change only a rule's "
                        f"{', '.join(CHANGEABLE[:-1])} or {CHANGEABLE[-1]}"
                    )
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        where = list(errors[0].absolute_path)
        rule = f", rule {where[1]}" if len(where) >= 2 and where[0] == "overrides" else ""
        field = ".".join(str(p) for p in where[2:] if rule) or ".".join(map(str, where))
        field_part = f", field {field}" if field else ""
        raise OverlayError(f"{path}{rule}{field_part}: {errors[0].message}")
    return {str(ref): dict(fields) for ref, fields in raw["overrides"].items()}, sha256


def apply_overlay(
    books: Mapping[str, Rulebook], changes: Mapping[str, Mapping[str, Any]], path: str, sha: str
) -> dict[str, Rulebook]:
    """The rulebooks with the overlay's changes, each changed rule marked as a local override.
    Every version of a rule (its valid_from periods) is changed alike."""
    refs = {rule.ref for book in books.values() for rule in book.rules}
    for ref in changes:
        if ref not in refs:
            example = "sif.action_planning_visit"
            raise OverlayError(
                f"{path}, rule {ref}: no such rule in the rulebooks (write framework.rule, "
                f"e.g. {example}; `statclock rules` lists them)"
            )
    result = dict(books)
    for name, book in books.items():
        if not any(rule.ref in changes for rule in book.rules):
            continue
        rules = []
        for rule in book.rules:
            change = changes.get(rule.ref)
            if change is None:
                rules.append(rule)
                continue
            unit = change.get("unit", rule.unit)
            window = change.get("window", {"start_offset": rule.window_start_offset})
            start = None if window is None else window["start_offset"]
            changed = dataclasses.replace(
                rule,
                unit=unit,
                counting=_COUNTING_FOR_UNIT[unit],
                offset=change.get("offset", rule.offset),
                window_start_offset=start,
            )
            if start is not None and changed.offset >= 0 and not 0 <= start <= changed.offset:
                raise OverlayError(
                    f"{path}, rule {rule.ref}, field window.start_offset: {start} must lie "
                    f"between 0 and the offset ({changed.offset})"
                )
            note = f"local override: {_describe(changed)} instead of {_describe(rule)}, {path}"
            rules.append(dataclasses.replace(changed, local_override=note, overlay_sha256=sha))
        try:
            _check_references(f"{path} (on {book.path})", rules)
        except RulebookError as exc:
            raise OverlayError(str(exc)) from None
        result[name] = dataclasses.replace(book, rules=tuple(rules))
    return result


_APPLIED: dict[tuple[int, str, str], tuple[Mapping[str, Rulebook], dict[str, Rulebook]]] = {}


def overlaid(books: Mapping[str, Rulebook], path: str) -> Mapping[str, Rulebook]:
    """``books`` with the overlay at ``path``; the same object while neither changes (the file
    is read and hashed on every call, so an edited overlay takes effect at once)."""
    changes, sha = read_overlay(path)
    key = (id(books), path, sha)
    cached = _APPLIED.get(key)
    if cached is not None and cached[0] is books:
        return cached[1]
    result = apply_overlay(books, changes, path, sha)
    _APPLIED.clear()  # one overlay at a time is the norm; never grow without bound
    _APPLIED[key] = (books, result)
    return result


def overlay_in_force(books: Mapping[str, Rulebook]) -> str | None:
    """The SHA-256 of the overlay these rulebooks carry, if any (for the audit trail)."""
    for book in books.values():
        for rule in book.rules:
            if rule.overlay_sha256:
                return rule.overlay_sha256
    return None
