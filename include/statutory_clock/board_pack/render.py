"""Snapshot -> board pack: one self-contained HTML document, and a PDF made from it.

The renderer is a pure function of the snapshot (a typed `snapshot.Snapshot`): it never reads
the clock (`as_of` and `generated_at` come from the snapshot), the database or the network, so
the same snapshot gives the same HTML byte for byte. Jinja2 autoescaping is on for every
template, because council data may contain "<" or "&". Dates are shown as
"Monday 11 December 2017" (`dates.long_date`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import gc
import html
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statutory_clock.board_pack import charts
from statutory_clock.board_pack.snapshot import ActionRow, MilestoneRow, MovedMilestone, Snapshot
from statutory_clock.dates import long_date
from statutory_clock.rules import framework_labels, judgement_labels
from statutory_clock.vocabulary import STATUS_LABELS

if TYPE_CHECKING:
    import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
# PDF/UA-1 (ISO 14289-1): a tagged PDF whose structure (headings, tables, lists, figures with
# their alt text) screen readers follow, with the title and language declared; public bodies
# publish accessible documents (WCAG 2.2 AA; issue 12).
PDF_VARIANT = "pdf/ua-1"
_SVG_TITLE = re.compile(r"<title[^>]*>([^<]*)</title>")
# White space between two table tags is never shown, but WeasyPrint still builds and lays out
# a box for each run of it: a few percent of a pack with a long action plan.
_TABLE_TAG = r"</?(?:table|caption|colgroup|col|thead|tbody|tfoot|tr|td|th)\b"
_SPACE_BETWEEN_TABLE_TAGS = re.compile(rf"({_TABLE_TAG}[^<>]*>)\s+(?={_TABLE_TAG})")

_JUDGEMENT_AREAS = {
    "overall": "Overall effectiveness",
    "help_and_protection": "Children who need help and protection",
    "looked_after_and_permanence": "Children looked after and achieving permanence",
    "adoption_performance": "Adoption performance",
    "care_leavers": "Experiences and progress of care leavers",
    "leadership_management_governance": "Leadership, management and governance",
}
_STATUSES = STATUS_LABELS
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


def format_date(value: date | None, missing: str = "Not recorded") -> str:
    """A date (or None) -> 'Monday 11 December 2017' (or `missing`)."""
    return long_date(value) if value else missing


def format_instant(value: datetime | None) -> str:
    """An instant -> 'Thursday 7 December 2017 at 07:00' in UK local time."""
    if value is None:
        return "Not recorded"
    moment = value
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


# -- what the template is given beyond the snapshot -------------------------------------------


@dataclass(frozen=True)
class MilestoneRef:
    """A new or completed milestone in "what changed": the snapshot names it by title."""

    id: str | None  # when the name is a milestone id of this pack
    title: str
    due: date | None
    actual: date | None


@dataclass(frozen=True)
class RagChangeView:
    recommendation: int | None
    old: str | None
    new: str | None
    text: str  # the recommendation's text, "" when not known


@dataclass(frozen=True)
class ChangesView:
    previous_version_date: date | None
    new: tuple[MilestoneRef, ...]
    moved: tuple[MovedMilestone, ...]
    completed: tuple[MilestoneRef, ...]
    rag_changes: tuple[RagChangeView, ...]

    @property
    def any(self) -> bool:
        return bool(self.new or self.moved or self.completed or self.rag_changes)


@dataclass(frozen=True)
class VisitView:
    """A monitoring visit with its milestone's title and status."""

    id: str
    title: str | None
    status: str | None
    due: date
    actual: date | None
    findings: str | None


@dataclass(frozen=True)
class ActionGroup:
    """One recommendation's heading and its items, in plan order."""

    recommendation: int | None
    text: str | None
    theme: str
    smt_lead: str | None
    rows: tuple[ActionRow, ...]


def _ref(name: str, milestones: Mapping[str, MilestoneRow]) -> MilestoneRef:
    found = milestones.get(name)
    if found is None:
        return MilestoneRef(None, name, None, None)
    return MilestoneRef(name, found.title, found.due, found.actual)


def _action_groups(actions: Sequence[ActionRow]) -> list[ActionGroup]:
    """One heading row per recommendation, its items beneath in plan order, as in council
    appendices. Plans are often kept in date or owner order, so items of one recommendation
    are gathered rather than only consecutive ones; items with no recommendation come last."""
    rows: dict[int | None, list[ActionRow]] = {}
    for action in actions:
        rows.setdefault(action.recommendation, []).append(action)
    groups = [
        ActionGroup(number, items[0].recommendation_text, items[0].theme, items[0].smt_lead,
                    tuple(items))
        for number, items in rows.items()
    ]  # fmt: skip
    # sorted() is stable: first-seen order otherwise
    return sorted(groups, key=lambda g: (g.recommendation is None, g.recommendation or 0))


@dataclass(frozen=True)
class PackIdentity:
    """What a pack is, in words: on its cover, in its <title> and in every page's footer."""

    title: str  # "Monthly pack for November 2026", "Pack for the board meeting on ..."
    footer: str  # "Monthly pack for November 2026", "Board meeting Thursday 14 December 2017"


def pack_identity(meeting: date | None, first: date | None, last: date | None) -> PackIdentity:
    """A pack for a meeting names the meeting; without one, a pack covering one whole calendar
    month is that month's monthly pack; any other (an ad hoc pack) names the days it covers.
    Never "Not set": a pack with no meeting on file is not a pack for an unknown meeting."""
    if meeting is not None:
        when = long_date(meeting)
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
    """What the headline says beside its counts, derived from the snapshot's milestones."""

    oldest_overdue: MilestoneRow | None  # the council's longest-overdue item
    next_item: MilestoneRow | None  # the next open item of any kind, due on or after as_of


def headline_facts(milestones: Sequence[MilestoneRow], as_of: date) -> HeadlineFacts:
    overdue = sorted((m for m in milestones if m.status == "overdue"), key=lambda m: m.due)
    ahead = sorted(
        (m for m in milestones if m.status in ("upcoming", "due") and m.due >= as_of),
        key=lambda m: m.due,
    )
    return HeadlineFacts(overdue[0] if overdue else None, ahead[0] if ahead else None)


def _sections(snapshot: Snapshot) -> list[Section]:
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
    if snapshot.intervention is None:
        titles = [t for t in titles if t[0] != "intervention"]
    return [Section(anchor, title, n) for n, (anchor, title) in enumerate(titles, start=1)]


def build_context(snapshot: Snapshot) -> dict[str, Any]:
    """Everything the template needs, derived from the snapshot (which is never changed)."""
    milestones = snapshot.milestones
    by_id = {m.id: m for m in milestones}
    by_recommendation: dict[int | None, str] = {}
    for action in snapshot.actions:
        by_recommendation.setdefault(action.recommendation, action.recommendation_text or "")
    changes = snapshot.changes_since_previous
    change_view = ChangesView(
        previous_version_date=changes.previous_version_date,
        new=tuple(_ref(title, by_id) for title in changes.new),
        moved=changes.moved,
        completed=tuple(_ref(title, by_id) for title in changes.completed),
        rag_changes=tuple(
            RagChangeView(
                c.recommendation, c.old, c.new, by_recommendation.get(c.recommendation, "")
            )
            for c in changes.rag_changes
        ),
    )
    visits = []
    for v in snapshot.monitoring_visits:
        found = by_id.get(v.id)
        visits.append(
            VisitView(
                v.id,
                found.title if found else None,
                found.status if found else None,
                v.due,
                v.actual,
                v.findings,
            )
        )
    # Overall effectiveness first, then the areas in the report's order (an archived snapshot's
    # keys are sorted, so its own order is not the report's).
    areas = list(_JUDGEMENT_AREAS)
    inspection = dataclasses.replace(
        snapshot.inspection,
        judgements=dict(
            sorted(
                snapshot.inspection.judgements.items(),
                key=lambda item: areas.index(item[0]) if item[0] in areas else len(areas),
            )
        ),
    )
    sections = _sections(snapshot)
    facts = headline_facts(milestones, snapshot.as_of)
    rag_by_theme = charts.themes_in_plan_order(snapshot)
    return {
        "s": snapshot,
        "council": snapshot.council,
        "board": snapshot.board,
        "period": snapshot.period,
        "pack": pack_identity(
            snapshot.board.meeting_date, snapshot.period.start, snapshot.period.end
        ),
        "inspection": inspection,
        "headline": snapshot.headline,
        "oldest_overdue": facts.oldest_overdue,
        "next_item": facts.next_item,
        "to_record": [m for m in milestones if m.status == "not_recorded"],
        "judgement_history": snapshot.judgement_history,
        "milestones": milestones,
        "next_90_days": snapshot.next_90_days,
        "overdue_and_missed": snapshot.overdue_and_missed,
        "action_groups": _action_groups(snapshot.actions),
        "action_count": len(snapshot.actions),
        "rag_by_theme": rag_by_theme,
        "rag_totals": snapshot.rag_totals,
        "rag_keys": list(charts.RAG_COLOURS),
        "changes": change_view,
        "monitoring_visits": visits,
        "intervention": snapshot.intervention,
        "intervention_milestones": [
            m for m in milestones if m.rule.startswith("dfe_intervention.")
        ],
        "rules_appendix": snapshot.rules_appendix,
        "sections": {s.anchor: s for s in sections},
        "section_list": sections,
        "timeline_svg": charts.timeline_svg(snapshot) if milestones else None,
        "rag_svg": (
            charts.rag_chart_svg(snapshot) if any(c.total for c in rag_by_theme.values()) else None
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


def render_html(snapshot: Snapshot) -> str:
    """The whole pack as one self-contained HTML document (CSS inline, charts as inline SVG).

    Also used as the email body.
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


def render_pack(snapshot: Snapshot) -> RenderedPack:
    """The pack as HTML (`render_html`) and as an A4 PDF made by WeasyPrint from the same
    template and context, so both always say the same; the charts are drawn once.

    Nothing is fetched: the document references no external resource (the charts are data:
    URLs) and the URL fetcher refuses every other request; should the template ever ask for
    one, RuntimeError names it.
    """
    with _fewer_collector_passes():
        return _render_pack(snapshot)


def _render_pack(snapshot: Snapshot) -> RenderedPack:
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
    pdf: bytes = document.write_pdf(
        stylesheets=[setup.stylesheet], font_config=setup.fonts, pdf_variant=PDF_VARIANT
    )
    if refused:
        raise RuntimeError(f"the board pack tried to fetch external resources: {refused}")
    html_pack = _render_template(context, inline_charts=True, inline_css=True)
    return RenderedPack(html_pack, pdf)


def render_pdf(snapshot: Snapshot) -> bytes:
    """The pack as an A4 PDF (see `render_pack`)."""
    return render_pack(snapshot).pdf
