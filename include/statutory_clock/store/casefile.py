"""Case files: one inspection of one council as YAML, for import, export and the demo councils.

A case file is validated against ``casefile.schema.json`` and then against the rulebooks (the
judgements must be on the framework's scale, the publication date inside its period). Errors
name the file, the line, the field and the value. :func:`normalise` gives the canonical form
that :func:`dump_case_file` writes, so import followed by export round-trips exactly.

Dates are ``YYYY-MM-DD``; where a source gives only a month, ``{month: YYYY-MM}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from statutory_clock.rules import load_rulebooks

SCHEMA_VERSION = 1


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that leaves dates as text: the schema then reports an impossible date such
    as 2017-02-30 with its field and line, instead of the YAML library failing on it."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LOADER = _Loader
_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,99}$")


class CaseFileError(ValueError):
    """An invalid case file. ``str()`` is one line: file, line, field, value and problem."""

    def __init__(self, source: str, line: int | None, field: str, problem: str) -> None:
        self.source, self.line, self.field, self.problem = source, line, field, problem
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}, field {field}: {problem}")


@cache
def _validator() -> Any:
    import jsonschema

    text = resources.files("statutory_clock.store").joinpath("casefile.schema.json")
    schema = json.loads(text.read_text("utf-8"))
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the YAML node at ``path`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                # A missing key: point at the mapping that lacks it.
                return line
            node = found
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _field_name(path: list[Any]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(top level)"


def _describe(error: Any) -> tuple[list[Any], str]:
    """Path and message for a schema error, preferring the most specific sub-error."""
    if error.context:  # oneOf: pick the branch that got furthest
        best = max(error.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) > len(error.absolute_path):
            error = best
    path = list(error.absolute_path)
    value = error.instance
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [*path, missing], "is required but missing"
    if error.validator == "additionalProperties":
        return path, error.message.replace("Additional properties are not allowed", "unknown key")
    shown = json.dumps(value, ensure_ascii=False, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if error.validator in ("oneOf", "format", "pattern", "enum", "const", "type"):
        return path, f"{shown} is not valid here ({_expected(error)})"
    return path, f"{shown}: {error.message}"


def _expected(error: Any) -> str:
    schema = error.schema
    ref = json.dumps(schema)
    if "$defs/date" in ref or "$defs/month" in ref or schema.get("format") == "date":
        return "expected a real date YYYY-MM-DD" + (
            " or {month: YYYY-MM}" if "month" in ref else ""
        )
    if error.validator == "enum":
        return "expected one of " + ", ".join(str(v) for v in schema["enum"])
    if error.validator == "pattern":
        return f"expected to match {schema['pattern']}"
    if error.validator == "type":
        return f"expected {schema['type']}"
    return str(error.message)


def parse_case_text(text: str, source: str) -> dict[str, Any]:
    """Validate a case file's text and return its canonical (normalised) document."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
        raw = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise CaseFileError(source, line, "(YAML)", f"not valid YAML: {problem}") from None
    if not isinstance(raw, Mapping):
        raise CaseFileError(source, 1, "(top level)", "a case file must be a YAML mapping")
    return parse_case_data(raw, source, root)


def parse_case_data(
    raw: Mapping[str, Any], source: str, root: yaml.Node | None = None
) -> dict[str, Any]:
    """Validate a case document given as data (a form, an API call, or parsed YAML).

    ``root`` is the YAML node tree when the data came from a file, for line numbers.
    """
    errors = sorted(_validator().iter_errors(_jsonable(raw)), key=lambda e: e.path)
    if errors:
        path, problem = _describe(errors[0])
        raise CaseFileError(source, _line_of(root, path), _field_name(path), problem)
    doc = normalise(_jsonable(raw))
    _check_semantics(doc, root, source)
    return doc


def load_case_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFileError(str(path), None, "(file)", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CaseFileError(str(path), None, "(file)", "is not UTF-8 text") from None
    doc = parse_case_text(text, str(path))
    if "key" not in doc:
        key = path.stem.lower()
        if not _KEY_PATTERN.match(key):
            raise CaseFileError(
                str(path),
                1,
                "key",
                f"no key given and the file name {key!r} "
                "is not usable as one (lower-case letters, digits, hyphens)",
            )
        doc = {
            "schema_version": doc["schema_version"],
            "key": key,
            **{k: v for k, v in doc.items() if k != "schema_version"},
        }
    return doc


def _check_semantics(doc: dict[str, Any], root: yaml.Node | None, source: str) -> None:
    """Checks the schema cannot express: the rulebooks' scales and cross-references."""
    inspection = doc["inspection"]
    book = load_rulebooks()[inspection["framework"]]
    for area, grade in inspection["judgements"].items():
        if grade not in book.judgement_scale:
            scale = ", ".join(book.judgement_scale) or "none: this framework gives no grades"
            path = ["inspection", "judgements", area]
            raise CaseFileError(
                source,
                _line_of(root, path),
                _field_name(path),
                f"{grade!r} is not on the {book.framework} scale ({scale})",
            )
    published = day_of(inspection["published"])
    if not book.in_force(published):
        path = ["inspection", "published"]
        raise CaseFileError(
            source,
            _line_of(root, path),
            _field_name(path),
            f"{published.isoformat()} is outside the {book.framework} framework's period",
        )
    numbers = [r["number"] for r in inspection["recommendations"]]
    for i, number in enumerate(numbers):
        if number in numbers[:i]:
            path = ["inspection", "recommendations", i, "number"]
            raise CaseFileError(
                source, _line_of(root, path), _field_name(path), f"{number} appears twice"
            )
    from statutory_clock.engine import ClockBuilder

    policy = ClockBuilder().recommendations
    for i, rec in enumerate(inspection["recommendations"]):
        if rec["timescale"] and policy.timescale_for(rec["timescale"]) is None:
            path = ["inspection", "recommendations", i, "timescale"]
            known = ", ".join(policy.timescales)
            raise CaseFileError(
                source,
                _line_of(root, path),
                _field_name(path),
                f"{rec['timescale']!r} is not a known timescale ({known})",
            )
    for i, item in enumerate(inspection["action_plan"]):
        if numbers and item["recommendation"] is not None and item["recommendation"] not in numbers:
            path = ["inspection", "action_plan", i, "recommendation"]
            raise CaseFileError(
                source,
                _line_of(root, path),
                _field_name(path),
                f"{item['recommendation']} is not a recommendation of this case",
            )
    names = {c["name"] for c in doc["contacts"]}
    for i, contact in enumerate(doc["contacts"]):
        if contact["escalation_to"] and contact["escalation_to"] not in names:
            path = ["contacts", i, "escalation_to"]
            raise CaseFileError(
                source,
                _line_of(root, path),
                _field_name(path),
                f"{contact['escalation_to']!r} is not one of the contacts",
            )
    for milestone, owner in inspection["milestone_owners"].items():
        if owner not in names:
            path = ["inspection", "milestone_owners", milestone]
            raise CaseFileError(
                source,
                _line_of(root, path),
                _field_name(path),
                f"{owner!r} is not one of the contacts",
            )


# -- canonical form -------------------------------------------------------------------------


def day_of(value: Any) -> date:
    """The date a day-or-month value stands for: a month means its last day (conservative for
    deadlines: a visit "in August" is only known to have happened by 31 August)."""
    if isinstance(value, date):
        return value
    year, month = (int(p) for p in value["month"].split("-"))
    from statutory_clock.engine import end_of_month

    return end_of_month(date(year, month, 1))


def precision_of(value: Any) -> str:
    return "month" if isinstance(value, Mapping) else "day"


def _d(value: Any) -> Any:
    """A validated date field: ISO text becomes a date; {month: ...} and None stay as they are."""
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, Mapping):
        return {"month": str(value["month"])}
    return value


def _event(raw: Mapping[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"milestone": raw["milestone"]}
    if "month" in raw:
        event["month"] = raw["month"]
    else:
        event["date"] = _d(raw.get("date"))
    event["note"] = raw.get("note")
    if raw.get("recorded_by"):
        event["recorded_by"] = raw["recorded_by"]
    return event


def normalise(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical document: every key present, in a fixed order, defaults filled."""
    la = raw["local_authority"]
    ins = raw["inspection"]
    doc: dict[str, Any] = {"schema_version": raw["schema_version"]}
    if raw.get("key"):
        doc["key"] = raw["key"]
    doc["local_authority"] = {"name": la["name"], "dfe_code": la["dfe_code"]}
    doc["contacts"] = [
        {
            "name": c["name"],
            "role": c.get("role"),
            "email": c.get("email"),
            "phone": c.get("phone"),
            "escalation_to": c.get("escalation_to"),
        }
        for c in raw.get("contacts") or []
    ]
    doc["inspection"] = {
        "framework": ins["framework"],
        "title": ins.get("title"),
        "notified": _d(ins.get("notified")),
        "fieldwork_start": _d(ins.get("fieldwork_start")),
        "fieldwork_end": _d(ins.get("fieldwork_end")),
        "published": _d(ins["published"]),
        "received": _d(ins.get("received")),
        "judgements": dict(ins.get("judgements") or {}),
        "lscb_review": ins.get("lscb_review"),
        "rounding": ins.get("rounding") or "end_of_month",
        "recommendations": [
            {
                "number": r["number"],
                "text": r.get("text"),
                "timescale": r.get("timescale"),
                "theme": r.get("theme"),
            }
            for r in ins.get("recommendations") or []
        ],
        "action_plan": [
            {
                "recommendation": a.get("recommendation"),
                "current_strategy": a.get("current_strategy"),
                "required_outcome": a.get("required_outcome"),
                "lead_officer": a.get("lead_officer"),
                "key_tasks": a.get("key_tasks"),
                "progress": [
                    {"date": _d(p.get("date")), "note": p["note"]} for p in a.get("progress") or []
                ],
                "target_date": _d(a.get("target_date")),
                "status": a.get("status"),
                "smt_lead": a.get("smt_lead"),
            }
            for a in ins.get("action_plan") or []
        ],
        "events": [_event(e) for e in ins.get("events") or []],
        "planned": [_event(e) for e in ins.get("planned") or []],
        "milestone_owners": dict(ins.get("milestone_owners") or {}),
        "adjustments": [
            {
                "milestone": a["milestone"],
                "extended_to": _d(a.get("extended_to")),
                "waived": bool(a.get("waived", False)),
                "reason": a["reason"],
                "agreed_by": a["agreed_by"],
            }
            for a in ins.get("adjustments") or []
        ],
    }
    intervention = raw.get("intervention")
    doc["intervention"] = (
        None
        if intervention is None
        else {
            "direction": _d(intervention.get("direction")),
            "commissioner": intervention.get("commissioner"),
            "independent_chair": intervention.get("independent_chair"),
            "adviser": intervention.get("adviser"),
            "reviews": intervention.get("reviews"),
            "notes": intervention.get("notes"),
        }
    )
    board = raw.get("board")
    doc["board"] = (
        None
        if board is None
        else {
            "name": board.get("name"),
            "chair": board.get("chair"),
            "cadence": board.get("cadence"),
            "cadence_changes": [
                {"from": _d(c.get("from")), "cadence": c["cadence"], "note": c.get("note")}
                for c in board.get("cadence_changes") or []
            ],
            "meetings": [_d(m) for m in board.get("meetings") or []],
            "other_reporting": [
                {"body": o["body"], "cadence": o.get("cadence"), "note": o.get("note")}
                for o in board.get("other_reporting") or []
            ],
            "distribution": list(board.get("distribution") or []),
        }
    )
    doc["sources"] = [dict(s) for s in raw.get("sources") or []]
    doc["notes"] = raw.get("notes")
    return doc


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_case_file(doc: Mapping[str, Any]) -> str:
    """YAML text of a canonical document (stable: the same document gives the same bytes)."""
    header = "# statclock case file (schema_version 1). Dates: YYYY-MM-DD, or {month: YYYY-MM}.\n"
    body: str = yaml.dump(
        dict(doc),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return header + body
