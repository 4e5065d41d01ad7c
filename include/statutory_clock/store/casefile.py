"""Case files: one inspection of one council as YAML, for import, export and the demo councils.

A case file is validated against ``casefile.schema.json`` and then against the rulebooks (the
judgements must be on the framework's scale, the publication date inside its period). Errors
name the file, the line, the field and the value. :func:`normalise` gives the canonical form
that :func:`dump_case_file` writes, so import followed by export round-trips exactly.

Dates are ``YYYY-MM-DD``; where a source gives only a month, ``{month: YYYY-MM}``.

A case file may come from anyone, so it is read defensively (issue 10): at most 1 MB, one YAML
document, no anchors, aliases, tags or merge keys, no key given twice, at most 20 levels deep,
all refused from the parser's event stream before anything is built or expanded; then every
value meets the rules of :mod:`statutory_clock.inputs` (text, e-mail addresses, dates within
1990-2100, numbers) before the rulebooks are consulted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, cast

import yaml

from statutory_clock.inputs import (
    MAX_DEPTH,
    MAX_YAML_BYTES,
    InputError,
    check_case_document,
    check_depth,
    printable,
    shown,
)
from statutory_clock.rules import default_rounding, load_rulebooks
from statutory_clock.store.case_document import CaseDocument
from statutory_clock.store.casefile_typing import CaseFileDict, EventDict, LifecycleDict

SCHEMA_VERSION = 1


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that leaves dates as text: the schema then reports an impossible date such
    as 2017-02-30 with its field and line, instead of the YAML library failing on it.

    Only its event parser and scalar resolver are used: :func:`_compose` builds the document
    from the events itself, without recursion, refusing what a case file never needs (anchors,
    aliases, tags, merge keys, duplicate keys, deep nesting) before anything is expanded.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LOADER = _Loader
_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,99}$")
_YAML = "tag:yaml.org,2002:"
# Longer integers than this are no number a case file can hold; int() of a 5,000-digit text
# raises ValueError, so refuse them by their length first.
_MAX_INT_DIGITS = 40


class CaseFileError(ValueError):
    """An invalid case file. ``str()`` is one line: file, line, field, value and problem."""

    def __init__(self, source: str, line: int | None, field: str, problem: str) -> None:
        self.source, self.line, self.field, self.problem = source, line, field, problem
        where = f"{printable(source, 200)}, line {line}" if line else printable(source, 200)
        super().__init__(f"{where}, field {printable(field)}: {printable(problem, 400)}")


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


def _line_of(node: yaml.Node | None, path: Sequence[Any]) -> int | None:
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


def _field_name(path: Sequence[Any]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(top level)"


def _describe(error: Any) -> tuple[list[Any], str]:
    """Path and message for a schema error, preferring the most specific sub-error.

    Messages are built here rather than taken from the library, whose text repeats the whole
    value (a 1 MB list, a 5,000-digit number that cannot even be printed).
    """
    if error.context:  # oneOf: pick the branch that got furthest
        best = max(error.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) > len(error.absolute_path):
            error = best
    path = list(error.absolute_path)
    value = error.instance
    schema = error.schema
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [*path, missing], "is required but missing"
    if error.validator == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        unknown = [k for k in value if k not in allowed] if isinstance(value, Mapping) else []
        keys = ", ".join(shown(k, 40) for k in unknown[:3])
        return path, f"unknown key {keys}" if len(unknown) == 1 else f"unknown keys {keys}"
    if error.validator == "propertyNames":
        return path, f"a key here is not valid ({_expected(error)})"
    if error.validator in ("maxItems", "maxProperties"):
        limit = schema[error.validator]
        return path, f"has {len(value):,} entries; at most {limit:,} are allowed"
    if error.validator == "not":
        return path, "gives both a date and a month: give one"
    if error.validator in ("minimum", "maximum"):
        return path, f"{shown(value)} is outside {schema.get('minimum')} to {schema.get('maximum')}"
    if error.validator == "minLength":
        return path, f"{shown(value)} is empty"
    return path, f"{shown(value)} is not valid here ({_expected(error)})"


def _expected(error: Any) -> str:
    schema = error.schema
    if error.validator == "propertyNames":
        schema = schema["propertyNames"]
    ref = json.dumps(schema)
    if "$defs/date" in ref or "$defs/month" in ref or schema.get("format") == "date":
        return "expected a real date YYYY-MM-DD" + (
            " or {month: YYYY-MM}" if "month" in ref else ""
        )
    if error.validator == "enum":
        return "expected one of " + ", ".join(str(v) for v in schema["enum"])
    if "pattern" in schema:
        return f"expected to match {schema['pattern']}"
    if error.validator == "type":
        return f"expected {schema['type']}"
    if error.validator == "const":
        return f"expected {schema['const']}"
    return str(error.validator)


# -- reading YAML safely ---------------------------------------------------------------------


@dataclass
class _Open:
    """A mapping or sequence being composed: its node, its data, and where it is."""

    node: yaml.MappingNode | yaml.SequenceNode
    data: dict[Any, Any] | list[Any]
    path: tuple[str | int, ...]
    key: yaml.ScalarNode | None = None  # a mapping's key awaiting its value
    key_data: Any = None
    seen: dict[Any, int] = field(default_factory=dict)  # key -> line, to refuse duplicates


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data of a one-document YAML text.

    Works from the parser's event stream with its own stack, never recursing: libyaml's own
    composer recurses once per level, so 100,000 nested brackets would crash the process, and
    the pure-Python one raises RecursionError. Nothing is ever expanded: anchors and aliases
    (the 1 KB "billion laughs" file) are refused where they appear.
    """

    def refuse(mark: Any, path: Sequence[str | int], problem: str) -> NoReturn:
        line = mark.line + 1 if mark is not None else None
        raise CaseFileError(source, line, _field_name(path) if path else "(YAML)", problem)

    loader = _LOADER(text)
    stack: list[_Open] = []
    root: yaml.Node | None = None
    data: Any = None
    path: tuple[str | int, ...]
    documents = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    refuse(event.start_mark, (), "a case file is one YAML document, not several")
                continue
            if not isinstance(event, yaml.NodeEvent):
                if isinstance(event, yaml.CollectionEndEvent) and stack:
                    stack.pop()
                continue
            here = _next_path(stack[-1]) if stack else ()
            if isinstance(event, yaml.AliasEvent):
                refuse(event.start_mark, here, "YAML aliases (*name) are not allowed")
            if event.anchor is not None:
                refuse(event.start_mark, here, "YAML anchors (&name) are not allowed")
            tag = getattr(event, "tag", None)
            if tag is not None:
                refuse(event.start_mark, here, f"YAML tags ({tag}) are not allowed")
            start: Any = event.start_mark  # libyaml's marks stand in for PyYAML's
            node: yaml.Node
            value: Any
            if isinstance(event, yaml.ScalarEvent):
                node = yaml.ScalarNode(
                    loader.resolve(yaml.ScalarNode, event.value, event.implicit),
                    event.value,
                    start,
                    start,
                    event.style,
                )
                value = _scalar(loader, node, here, refuse)
            else:
                if len(stack) >= MAX_DEPTH:
                    refuse(event.start_mark, here, f"is nested more than {MAX_DEPTH} levels deep")
                if isinstance(event, yaml.MappingStartEvent):
                    node = yaml.MappingNode(_YAML + "map", [], start, start)
                    value = {}
                else:
                    node = yaml.SequenceNode(_YAML + "seq", [], start, start)
                    value = []
            if not stack:
                root, data, path = node, value, ()
            else:
                path = _attach(stack[-1], node, value, refuse)
            if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
                stack.append(_Open(node, value, path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).split("\n", 1)[0]
        raise CaseFileError(source, line, "(YAML)", f"not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    return root, data


def _scalar(loader: Any, node: yaml.ScalarNode, path: Sequence[str | int], refuse: Any) -> Any:
    tag = node.tag
    if tag == _YAML + "int" and len(node.value) > _MAX_INT_DIGITS:
        refuse(node.start_mark, path, f"{shown(node.value)} has too many digits to be a number")
    if tag in (_YAML + "merge", _YAML + "value"):  # "<<" and "=" as values are just text
        return node.value
    return loader.construct_object(node)


def _next_path(top: _Open) -> tuple[str | int, ...]:
    """The path the next node in ``top`` will have (a key is named by its mapping's path)."""
    if isinstance(top.data, list):
        return (*top.path, len(top.data))
    return top.path if top.key is None else (*top.path, str(top.key_data))


def _attach(top: _Open, node: yaml.Node, value: Any, refuse: Any) -> tuple[str | int, ...]:
    """Add a node to the open collection; return its path."""
    if isinstance(top.data, list):
        top.node.value.append(node)
        top.data.append(value)
        return (*top.path, len(top.data) - 1)
    if top.key is None:  # a key: check it, and wait for its value
        if not isinstance(node, yaml.ScalarNode):
            refuse(node.start_mark, top.path, "a mapping key must be plain text")
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == _YAML + "merge":
            refuse(node.start_mark, top.path, "YAML merge keys (<<) are not allowed")
        if isinstance(value, bool):  # YAML 1.1 reads keys such as `on:` and `yes:` as true
            value = node.value
        key_text = str(value)
        if key_text in top.seen:
            refuse(
                node.start_mark,
                (*top.path, key_text),
                f"the key {shown(key_text, 40)} is given twice "
                f"(first on line {top.seen[key_text]}); give it once",
            )
        top.seen[key_text] = node.start_mark.line + 1
        top.key, top.key_data = node, value
        return (*top.path, key_text)
    path = (*top.path, str(top.key_data))
    top.node.value.append((top.key, node))
    top.data[top.key_data] = value
    top.key, top.key_data = None, None
    return path


def parse_case_text(text: str, source: str) -> CaseDocument:
    """Validate a case file's text and return its canonical (normalised) document."""
    if len(text) > MAX_YAML_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise CaseFileError(
            source, None, "(file)", f"is larger than {MAX_YAML_BYTES:,} bytes: not a case file"
        )
    try:  # a lone surrogate (text that came from anywhere but a UTF-8 file) stops libyaml
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CaseFileError(
            source, None, "(file)", f"is not valid Unicode text (at character {exc.start + 1})"
        ) from None
    root, raw = _compose(text, source)
    if not isinstance(raw, Mapping):
        raise CaseFileError(source, 1, "(top level)", "a case file must be a YAML mapping")
    return parse_case_data(raw, source, root)


def parse_case_data(
    raw: Mapping[str, Any], source: str, root: yaml.Node | None = None
) -> CaseDocument:
    """Validate a case document given as data (a form, an API call, or parsed YAML).

    ``root`` is the YAML node tree when the data came from a file, for line numbers. The
    checks run in order: nesting depth (before anything walks the data recursively), the
    schema (structure and types), the input rules of :mod:`statutory_clock.inputs` (text,
    e-mail addresses, date ranges, numbers), then the rulebooks.
    """
    if not isinstance(raw, Mapping):
        raise CaseFileError(source, None, "(top level)", "a case must be a mapping of fields")
    try:
        check_depth(raw)
        data = _jsonable(raw)
    except InputError as exc:
        raise CaseFileError(
            source, _line_of(root, exc.path), _field_name(exc.path), exc.problem
        ) from None
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.path))
    if errors:
        path, problem = _describe(errors[0])
        raise CaseFileError(source, _line_of(root, path), _field_name(path), problem)
    try:
        check_case_document(data)
    except InputError as exc:
        raise CaseFileError(
            source, _line_of(root, exc.path), _field_name(exc.path), exc.detail
        ) from None
    _check_lifecycle(data, root, source)
    doc = normalise(data)
    _check_semantics(doc, root, source)
    return CaseDocument.from_dict(doc)


def _check_lifecycle(data: Mapping[str, Any], root: yaml.Node | None, source: str) -> None:
    """What each state needs: an open case nothing else; a closed one its reason and day, and
    the later case's key exactly when it was superseded."""
    lifecycle = data.get("lifecycle")
    if lifecycle is None:
        return

    def refuse(name: str, problem: str) -> NoReturn:
        path = ["lifecycle", name]
        raise CaseFileError(source, _line_of(root, path), _field_name(path), problem)

    if lifecycle["state"] == "open":
        for name in ("reason", "closed_on", "by", "note", "superseded_by"):
            if lifecycle.get(name) is not None:
                refuse(name, f"{shown(lifecycle[name])} is only for a closed case (state: closed)")
        return
    for name in ("reason", "closed_on"):
        if lifecycle.get(name) is None:
            refuse(name, "is required for a closed case")
    later = lifecycle.get("superseded_by")
    if lifecycle["reason"] == "superseded" and later is None:
        refuse("superseded_by", "is required when the reason is superseded: the later case's key")
    if lifecycle["reason"] != "superseded" and later is not None:
        refuse("superseded_by", f"{shown(later)} is only for a case closed as superseded")
    if later is not None and later == data.get("key"):
        refuse("superseded_by", f"{shown(later)} is this case: a case cannot supersede itself")
    on = date.fromisoformat(lifecycle["closed_on"])
    published = day_of(_d(data["inspection"]["published"]))
    if on < published:
        refuse("closed_on", f"{on.isoformat()} is before the report ({published.isoformat()})")


def load_case_file(path: Path) -> CaseDocument:
    try:
        with path.open("rb") as stream:
            # Read one byte past the cap, never the whole of whatever the path names
            # (/dev/zero, a 10 GB file).
            content = stream.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        problem = exc.strerror or exc.__class__.__name__
        raise CaseFileError(str(path), None, "(file)", f"cannot read: {problem}") from None
    except ValueError:  # a NUL in the path
        raise CaseFileError(str(path), None, "(file)", "is not a usable file name") from None
    if len(content) > MAX_YAML_BYTES:
        raise CaseFileError(
            str(path), None, "(file)", f"is larger than {MAX_YAML_BYTES:,} bytes: not a case file"
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseFileError(str(path), None, "(file)", "is not UTF-8 text") from None
    doc = parse_case_text(text, str(path))
    if doc.key is None:
        key = path.stem.lower()
        if not _KEY_PATTERN.fullmatch(key):
            raise CaseFileError(
                str(path),
                1,
                "key",
                f"no key given and the file name {shown(key)} "
                "is not usable as one (lower-case letters, digits, hyphens)",
            )
        doc = replace(doc, key=key)
    return doc


def _check_semantics(doc: CaseFileDict, root: yaml.Node | None, source: str) -> None:
    """Checks the schema cannot express: the rulebooks' scales and cross-references."""
    inspection = doc["inspection"]
    book = load_rulebooks()[inspection["framework"]]
    for area, grade in inspection["judgements"].items():
        if grade not in book.judgement_scale:
            scale = ", ".join(book.judgement_scale) or "none: this framework gives no grades"
            path: list[str | int] = ["inspection", "judgements", area]
            raise CaseFileError(
                source,
                _line_of(root, path),
                _field_name(path),
                f"{grade!r} is not on the {book.framework} scale ({scale})",
            )
    published = day_of(inspection["published"])
    from statutory_clock.engine import ClockBuilder, FactsError

    for area, grade in inspection["judgements"].items():
        try:  # the framework's areas, e.g. no overall grade for ILACS from 1 April 2026
            ClockBuilder.check_area(book, published, area, grade)
        except FactsError as exc:
            path = ["inspection", "judgements", area]
            raise CaseFileError(
                source, _line_of(root, path), _field_name(path), f"{exc.value!r} {exc.problem}"
            ) from None
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


def _event(raw: Mapping[str, Any]) -> EventDict:
    # In the canonical order: milestone, date or month, note, recorded_by.
    event: EventDict
    if "month" in raw:
        event = {"milestone": raw["milestone"], "month": raw["month"], "note": raw.get("note")}
    else:
        event = {
            "milestone": raw["milestone"],
            "date": _d(raw.get("date")),
            "note": raw.get("note"),
        }
    if raw.get("recorded_by"):
        event["recorded_by"] = raw["recorded_by"]
    return event


def normalise(raw: Mapping[str, Any]) -> CaseFileDict:
    """The canonical document: every key present, in a fixed order, defaults filled.

    ``raw`` has passed the schema and the input rules (``parse_case_data``), which is what lets
    the result be typed as a :class:`~statutory_clock.store.casefile_typing.CaseFileDict`.
    """
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
            "reminders": c.get("reminders") or "each",
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
        "rounding": ins.get("rounding") or default_rounding(),  # recommendations.yaml's
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
    if intervention is not None and intervention.get("interventions"):
        doc["intervention"]["interventions"] = [
            {
                "kind": i["kind"],
                "date": _d(i["date"]),
                "commissioner": bool(i.get("commissioner", False)),
                "independent_chair": bool(i.get("independent_chair", False)),
                "note": i.get("note"),
            }
            for i in intervention["interventions"]
        ]
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
    doc["lifecycle"] = _lifecycle(raw.get("lifecycle"))
    return cast("CaseFileDict", doc)


def _lifecycle(raw: Mapping[str, Any] | None) -> LifecycleDict | None:
    """An open case's lifecycle is null; a closed one's has all six keys."""
    if raw is None or raw.get("state") != "closed":
        return None
    return {
        "state": "closed",
        "reason": raw["reason"],
        "closed_on": _d(raw["closed_on"]),
        "by": raw.get("by"),
        "note": raw.get("note"),
        "superseded_by": raw.get("superseded_by"),
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        # The same date object in two places (a case closed on its publication day) would be
        # written as an anchor and an alias, which a case file may not hold: write it twice.
        return True


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_case_file(doc: CaseDocument) -> str:
    """YAML text of a canonical document (stable: the same document gives the same bytes)."""
    header = "# statclock case file (schema_version 1). Dates: YYYY-MM-DD, or {month: YYYY-MM}.\n"
    body: str = yaml.dump(
        dict(doc.to_dict()),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return header + body
