"""Snapshot -> board pack: one self-contained HTML document, and a PDF made from it.

The renderer is a pure function of the snapshot: it never reads the clock (`as_of` and
`generated_at` come from the snapshot), the database or the network, so the same snapshot gives
the same HTML byte for byte. Jinja2 autoescaping is on for every template, because council data
may contain "<" or "&". Dates are shown as "Monday 11 December 2017" (`dates.long_date`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statutory_clock.board_pack import charts
from statutory_clock.dates import long_date
from statutory_clock.rules import framework_labels, judgement_labels

if TYPE_CHECKING:
    import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
_SVG_TITLE = re.compile(r"<title[^>]*>([^<]*)</title>")
# White space between two table tags is never shown, but WeasyPrint still builds and lays out
# a box for each run of it: a few percent of a pack with a long action plan.
_TABLE_TAG = r"</?(?:table|caption|colgroup|col|thead|tbody|tfoot|tr|td|th)\b"
_SPACE_BETWEEN_TABLE_TAGS = re.compile(rf"({_TABLE_TAG}[^<>]*>)\s+(?={_TABLE_TAG})")
SUPPORTED_SCHEMAS = (1,)

_JUDGEMENT_AREAS = {
    "overall": "Overall effectiveness",
    "help_and_protection": "Children who need help and protection",
    "looked_after_and_permanence": "Children looked after and achieving permanence",
    "adoption_performance": "Adoption performance",
    "care_leavers": "Experiences and progress of care leavers",
    "leadership_management_governance": "Leadership, management and governance",
}
_STATUSES = {
    "upcoming": "Upcoming",
    "due": "Due",
    "overdue": "Overdue",
    "met": "Met",
    "missed": "Missed",
    "waived": "Waived",
    # A past Ofsted or DfE act (a visit, a review) with no date on file: a prompt to record it,
    # never the council's overdue item (engine.milestone_status).
    "not_recorded": "Not recorded",
}
_PARTIES = {"council": "Council", "ofsted": "Ofsted", "dfe": "DfE"}
_KINDS = {"statutory": "Statutory", "regulatory": "Regulatory", "practice": "Practice"}
_CONFIDENCE = {
    "high": "High",
    "medium": "Medium",
    "medium-high": "Medium to high",
    "low": "Low",
    "unverified": "Unverified",
}


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    number: int


def _as_date(value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def format_date(value: str | date | None, missing: str = "Not recorded") -> str:
    """ISO date (or None) -> 'Monday 11 December 2017' (or `missing`)."""
    day = _as_date(value)
    return long_date(day) if day else missing


def format_instant(value: str | None) -> str:
    """ISO timestamp -> 'Thursday 7 December 2017 at 07:00' in UK local time."""
    if not value:
        return "Not recorded"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        # Without tzdata, keep the offset the timestamp was given with.
        with contextlib.suppress(ZoneInfoNotFoundError):
            moment = moment.astimezone(ZoneInfo("Europe/London"))
    return f"{long_date(moment.date())} at {moment:%H:%M}"


def _label(mapping: Mapping[str, str], value: str | None, missing: str = "Not recorded") -> str:
    if not value:
        return missing
    return mapping.get(value, value.replace("_", " ").capitalize())


def judgement_label(value: str | None) -> str:
    return _label(judgement_labels(), value)  # the rulebooks say how each grade is written


def area_label(value: str) -> str:
    return _label(_JUDGEMENT_AREAS, value)


def framework_label(value: str | None) -> str:
    return _label(framework_labels(), value)


def status_label(value: str | None) -> str:
    return _label(_STATUSES, value, "Not known")


def party_label(value: str | None) -> str:
    """Whose act a milestone is: 'Council', 'Ofsted' or 'DfE'."""
    return _label(_PARTIES, value, "Not stated")


def kind_label(value: str | None) -> str:
    return _label(_KINDS, value, "Not classified")


def confidence_label(value: str | None) -> str:
    return _label(_CONFIDENCE, value, "Not stated")


def rag_label(value: str | None) -> str:
    return charts.RAG_LABELS.get(value or "not_rated", str(value).capitalize())


def rag_class(value: str | None) -> str:
    return value if value in charts.RAG_COLOURS else "not_rated"


def sentence_case(value: str | None) -> str:
    """'help and protection' -> 'Help and protection'; 'LSCB' stays 'LSCB'."""
    text = str(value or "")
    return text[:1].upper() + text[1:]


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural_noun or noun + 's')}"


def working_days_phrase(days: int | None) -> str:
    if days is None:
        return "Not known"
    if days == 0:
        return "Due today"
    if days < 0:
        return f"{plural(-days, 'working day')} overdue"
    return plural(days, "working day")


def _ref(item: Any, milestones: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A 'new' or 'completed' entry (an id, a title, or a dict) as {id, title, due, actual}."""
    if isinstance(item, dict):
        found = milestones.get(str(item.get("id")), {})
        return {
            "id": item.get("id"),
            "title": item.get("title") or found.get("title") or item.get("id"),
            "due": item.get("due") or found.get("due"),
            "actual": item.get("actual") or found.get("actual"),
        }
    found = milestones.get(str(item), {})
    return {
        "id": item if found else None,
        "title": found.get("title") or str(item),
        "due": found.get("due"),
        "actual": found.get("actual"),
    }


def _action_groups(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One heading row per recommendation, its items beneath in plan order, as in council
    appendices. Plans are often kept in date or owner order, so items of one recommendation
    are gathered rather than only consecutive ones; items with no recommendation come last."""
    groups: dict[Any, dict[str, Any]] = {}
    for action in actions:
        key = action.get("recommendation")
        if key not in groups:
            groups[key] = {
                "recommendation": action.get("recommendation"),
                "text": action.get("recommendation_text"),
                "theme": action.get("theme"),
                "smt_lead": action.get("smt_lead"),
                "rows": [],
            }
        groups[key]["rows"].append(action)

    def order(group: dict[str, Any]) -> tuple[bool, Any]:
        number = group["recommendation"]
        return (number is None, number or 0)

    return sorted(groups.values(), key=order)  # sorted() is stable: first-seen order otherwise


@dataclass(frozen=True)
class PackIdentity:
    """What a pack is, in words: on its cover, in its <title> and in every page's footer."""

    title: str  # "Monthly pack for November 2026", "Pack for the board meeting on ..."
    footer: str  # "Monthly pack for November 2026", "Board meeting Thursday 14 December 2017"


def pack_identity(
    meeting: str | date | None, start: str | date | None, end: str | date | None
) -> PackIdentity:
    """A pack for a meeting names the meeting; without one, a pack covering one whole calendar
    month is that month's monthly pack; any other (an ad hoc pack) names the days it covers.
    Never "Not set": a pack with no meeting on file is not a pack for an unknown meeting."""
    meeting_day, first, last = _as_date(meeting), _as_date(start), _as_date(end)
    if meeting_day is not None:
        when = long_date(meeting_day)
        return PackIdentity(f"Pack for the board meeting on {when}", f"Board meeting {when}")
    if first is not None and last is not None:
        month_end = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(1)
        if first.day == 1 and last == month_end:
            title = f"Monthly pack for {first:%B %Y}"
            return PackIdentity(title, title)
        title = f"Pack for {long_date(first)} to {long_date(last)}"
        return PackIdentity(title, title)
    return PackIdentity("Improvement board pack", "Improvement board pack")


@dataclass(frozen=True)
class HeadlineFacts:
    """What the headline says beside its counts, all derived from the snapshot's milestones."""

    oldest_overdue: dict[str, Any] | None  # the council's longest-overdue item
    next_item: dict[str, Any] | None  # the next open item of any kind, due on or after as_of
    not_recorded_count: int


def headline_facts(milestones: list[dict[str, Any]], as_of: date | None) -> HeadlineFacts:
    def due(m: dict[str, Any]) -> date:
        return _as_date(m.get("due")) or date.max

    overdue = sorted((m for m in milestones if m.get("status") == "overdue"), key=due)
    ahead = sorted(
        (
            m
            for m in milestones
            if m.get("status") in ("upcoming", "due") and (as_of is None or due(m) >= as_of)
        ),
        key=due,
    )
    return HeadlineFacts(
        overdue[0] if overdue else None,
        ahead[0] if ahead else None,
        sum(1 for m in milestones if m.get("status") == "not_recorded"),
    )


def _sections(snapshot: dict[str, Any]) -> list[Section]:
    titles = [
        ("headline", "Headline status"),
        ("timeline", "Statutory timeline"),
        ("overdue", "Overdue and missed items"),
        ("action-plan", "Action plan progress"),
        ("changes", "What changed since the previous pack"),
        ("monitoring", "Monitoring visits"),
        ("intervention", "DfE intervention"),
        ("appendix", "Appendix: rules and sources"),
    ]
    if not snapshot.get("intervention"):
        titles = [t for t in titles if t[0] != "intervention"]
    return [Section(anchor, title, n) for n, (anchor, title) in enumerate(titles, start=1)]


_REQUIRED = ("council", "board", "period", "as_of", "generated_at", "version")
_MILESTONE_KEYS = (
    "id", "title", "due", "window_start", "actual", "status", "rule", "source", "basis",
    "confidence", "kind", "owner", "reason", "party",
)  # fmt: skip
_ACTION_KEYS = (
    "recommendation", "recommendation_text", "theme", "required_outcome", "lead_officer",
    "key_tasks", "progress", "target_date", "status", "smt_lead",
)  # fmt: skip


def _complete(items: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Copies of the dicts with every optional key present (None when absent)."""
    return [{**dict.fromkeys(keys), **item} for item in items or []]


def _one(item: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {**dict.fromkeys(keys), **(item or {})}


def build_context(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Everything the template needs, derived from the snapshot without changing it.

    Raises ValueError for an unknown schema or a missing required top-level key. Optional keys
    of milestones, actions and visits may be absent; they are treated as null.
    """
    schema = snapshot.get("schema")
    if schema not in SUPPORTED_SCHEMAS:
        raise ValueError(f"snapshot schema {schema!r} is not supported (expected 1)")
    missing = [key for key in _REQUIRED if key not in snapshot]
    if missing:
        raise ValueError(f"snapshot is missing required keys: {', '.join(missing)}")
    milestones = _complete(snapshot.get("milestones"), _MILESTONE_KEYS)
    by_id = {str(m.get("id")): m for m in milestones}
    actions = _complete(snapshot.get("actions"), _ACTION_KEYS)
    for action in actions:
        action["progress"] = _complete(action["progress"], ("date", "note"))
    by_recommendation: dict[Any, str] = {}
    for action in actions:
        by_recommendation.setdefault(
            action.get("recommendation"), action.get("recommendation_text") or ""
        )
    changes = snapshot.get("changes_since_previous") or {}
    change_view = {
        "previous_version_date": changes.get("previous_version_date"),
        "new": [_ref(i, by_id) for i in changes.get("new") or []],
        "moved": _complete(changes.get("moved"), ("id", "title", "old_due", "new_due")),
        "completed": [_ref(i, by_id) for i in changes.get("completed") or []],
        "rag_changes": [
            {**c, "text": by_recommendation.get(c.get("recommendation"), "")}
            for c in _complete(changes.get("rag_changes"), ("recommendation", "old", "new"))
        ],
    }
    change_view["any"] = any(change_view[k] for k in ("new", "moved", "completed", "rag_changes"))
    visits = [
        {
            **v,
            "title": (by_id.get(str(v.get("id"))) or {}).get("title") or v.get("title"),
            "status": (by_id.get(str(v.get("id"))) or {}).get("status") or v.get("status"),
        }
        for v in _complete(snapshot.get("monitoring_visits"), ("id", "due", "actual", "findings"))
    ]
    rag_totals = {key: 0 for key in charts.RAG_COLOURS}
    rag_totals.update({k: int(v or 0) for k, v in (snapshot.get("rag_totals") or {}).items()})
    intervention = snapshot.get("intervention")
    if intervention:
        intervention = _one(
            intervention,
            ("direction", "commissioner", "independent_chair", "adviser", "status_text"),
        )
    inspection = snapshot.get("inspection")
    if inspection:
        inspection = _one(
            inspection,
            ("framework", "title", "published", "received", "judgements", "lscb_review"),
        )
        # Overall effectiveness first, then the areas in the report's order (an archived
        # snapshot's keys are sorted, so its own order is not the report's).
        areas = list(_JUDGEMENT_AREAS)
        inspection["judgements"] = dict(
            sorted(
                (inspection["judgements"] or {}).items(),
                key=lambda item: areas.index(item[0]) if item[0] in areas else len(areas),
            )
        )
        inspection["anchor"] = _one(
            inspection.get("anchor") or {"date": inspection["published"], "kind": "publication"},
            ("date", "kind"),
        )
    headline = _one(
        snapshot.get("headline"),
        ("next_deadline", "overdue_count", "missed_count", "met_count", "upcoming_count"),
    )
    if headline["next_deadline"]:
        headline["next_deadline"] = _one(
            headline["next_deadline"], ("id", "title", "due", "working_days_left")
        )
    sections = _sections(snapshot)
    period = _one(snapshot.get("period"), ("start", "end", "label"))
    board = _one(snapshot.get("board"), ("name", "chair", "meeting_date", "cadence"))
    facts = headline_facts(milestones, _as_date(snapshot.get("as_of")))
    if headline.get("not_recorded_count") is None:
        headline["not_recorded_count"] = facts.not_recorded_count
    intervention_milestones = [
        m for m in milestones if str(m.get("rule") or "").startswith("dfe_intervention.")
    ]
    return {
        "s": snapshot,
        "council": _one(snapshot.get("council"), ("name", "dfe_code")),
        "board": board,
        "period": period,
        "pack": pack_identity(board["meeting_date"], period["start"], period["end"]),
        "inspection": inspection,
        "headline": headline,
        "oldest_overdue": facts.oldest_overdue,
        "next_item": facts.next_item,
        "to_record": [m for m in milestones if m.get("status") == "not_recorded"],
        "judgement_history": _complete(
            snapshot.get("judgement_history"), ("published", "framework", "overall")
        ),
        "milestones": milestones,
        "next_90_days": _complete(snapshot.get("next_90_days"), _MILESTONE_KEYS),
        "overdue_and_missed": _complete(snapshot.get("overdue_and_missed"), _MILESTONE_KEYS),
        "action_groups": _action_groups(actions),
        "action_count": len(actions),
        "rag_by_theme": charts.themes_in_plan_order(snapshot),
        "rag_totals": rag_totals,
        "rag_keys": list(charts.RAG_COLOURS),
        "changes": change_view,
        "monitoring_visits": visits,
        "intervention": intervention,
        "intervention_milestones": intervention_milestones,
        "rules_appendix": _complete(
            snapshot.get("rules_appendix"), ("rule", "title", "source", "confidence", "notes")
        ),
        "sections": {s.anchor: s for s in sections},
        "section_list": sections,
        "timeline_svg": charts.timeline_svg(snapshot) if milestones else None,
        "rag_svg": (
            charts.rag_chart_svg(snapshot)
            if any(
                sum(int(v or 0) for v in c.values())
                for c in (snapshot.get("rag_by_theme") or {}).values()
            )
            else None
        ),
    }


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        {
            "long_date": format_date,
            "instant": format_instant,
            "judgement": judgement_label,
            "area": area_label,
            "framework": framework_label,
            "status": status_label,
            "party": party_label,
            "kind": kind_label,
            "confidence": confidence_label,
            "rag_label": rag_label,
            "rag_class": rag_class,
            "working_days": working_days_phrase,
            "sentence": sentence_case,
        }
    )
    env.filters["lower_first"] = lambda text: str(text)[:1].lower() + str(text)[1:]
    env.globals["plural"] = plural
    return env


@dataclass(frozen=True)
class RenderedPack:
    html: str  # self-contained, charts as inline SVG: the archived copy and the email body
    pdf: bytes


def _chart_markup(svg: str | None, inline: bool) -> Any:
    """A chart for the email (inline SVG) or for WeasyPrint (the same SVG as an image).

    WeasyPrint styles inline SVG elements with the HTML cascade, one of its costliest steps
    for the hundreds of elements matplotlib writes; as an image the SVG is parsed on its own
    and drawn just the same, as vectors with real text. Mail clients are the other way round:
    many show inline SVG but block data: images.
    """
    import markupsafe

    if svg is None:
        return None
    if inline:
        # matplotlib escapes the text it writes into the SVG, so it is safe to inline.
        return markupsafe.Markup(svg)
    title = _SVG_TITLE.search(svg)
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return markupsafe.Markup(
        '<img class="chart-image" src="data:image/svg+xml;base64,{}" alt="{}">'
    ).format(data, html.unescape(title[1]) if title else "")  # format() escapes it again


@functools.cache
def _stylesheet() -> str:
    """pack.css, read once per process."""
    return (TEMPLATE_DIR / "pack.css").read_text(encoding="utf-8")


@dataclass(frozen=True)
class _PrintSetup:
    stylesheet: Any  # weasyprint.CSS
    fonts: Any  # weasyprint FontConfiguration


@functools.cache
def _print_setup() -> _PrintSetup:
    """What every PDF of this process shares: pack.css parsed once, and one font configuration,
    whose Pango font map keeps the fonts it has loaded and measured from pack to pack (a new
    one per document, WeasyPrint's default, loads them again: about 3% of a pack).
    """
    import weasyprint  # type: ignore[import-untyped]
    from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

    fonts = FontConfiguration()
    return _PrintSetup(weasyprint.CSS(string=_stylesheet(), font_config=fonts), fonts)


def _render_template(context: dict[str, Any], inline_charts: bool, inline_css: bool) -> str:
    import markupsafe

    values = {
        **context,
        "timeline_svg": _chart_markup(context["timeline_svg"], inline_charts),
        "rag_svg": _chart_markup(context["rag_svg"], inline_charts),
        "css": markupsafe.Markup(_stylesheet()) if inline_css else None,
    }
    return _environment().get_template("pack.html.j2").render(values)


def render_html(snapshot: dict[str, Any]) -> str:
    """The whole pack as one self-contained HTML document (CSS inline, charts as inline SVG).

    Also used as the email body. Raises ValueError for a snapshot schema it does not know.
    """
    return _render_template(build_context(snapshot), inline_charts=True, inline_css=True)


@contextlib.contextmanager
def _fewer_collector_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a pack is drawn.

    WeasyPrint and matplotlib allocate millions of short-lived objects; at the default
    generation-0 threshold (700 allocations) the collector scans them again and again, which
    measured about 7% of a pack's time. Memory is still reclaimed, just in larger passes.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def render_pack(snapshot: dict[str, Any]) -> RenderedPack:
    """The pack as HTML (`render_html`) and as an A4 PDF made by WeasyPrint from the same
    template and context, so both always say the same; the charts are drawn once.

    Nothing is fetched: the document references no external resource (the charts are data:
    URLs) and the URL fetcher refuses every other request; should the template ever ask for
    one, RuntimeError names it.
    """
    with _fewer_collector_passes():
        return _render_pack(snapshot)


def _render_pack(snapshot: dict[str, Any]) -> RenderedPack:
    import weasyprint

    context = build_context(snapshot)
    refused: list[str] = []

    class _OfflineFetcher(weasyprint.URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith("data:"):
                return super().fetch(url, headers)
            refused.append(url)
            raise ValueError(f"the board pack is rendered offline; refused to fetch {url}")

    # The same document, with the charts as images and pack.css given ready parsed.
    printable = _SPACE_BETWEEN_TABLE_TAGS.sub(
        r"\1", _render_template(context, inline_charts=False, inline_css=False)
    )
    setup = _print_setup()
    document = weasyprint.HTML(string=printable, url_fetcher=_OfflineFetcher())
    pdf: bytes = document.write_pdf(stylesheets=[setup.stylesheet], font_config=setup.fonts)
    if refused:
        raise RuntimeError(f"the board pack tried to fetch external resources: {refused}")
    html_pack = _render_template(context, inline_charts=True, inline_css=True)
    return RenderedPack(html_pack, pdf)


def render_pdf(snapshot: dict[str, Any]) -> bytes:
    """The pack as an A4 PDF (see `render_pack`)."""
    return render_pack(snapshot).pdf
