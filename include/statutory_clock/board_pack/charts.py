"""Board-pack charts as SVG text, drawn with matplotlib (imported lazily, Agg backend).

Both charts return a bare `<svg>` element (no XML declaration, no DOCTYPE) so the text can be
written to a `.svg` file or inlined in HTML as it is. Text stays text (`svg.fonttype: none`),
so the PDF is searchable and screen readers can read the labels. Every milestone marker is a
`<use>` in a group with an id starting `tl-ms-` (one group per status), and every RAG bar
segment a group with an id starting `rag-seg-`, which lets tests count them. Output is
deterministic for a given snapshot: no dates or hashes from the environment are written.
"""

from __future__ import annotations

import io
import re
import textwrap
from datetime import date
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from statutory_clock.board_pack.snapshot import MilestoneRow, RagCounts, Snapshot

# GOV.UK palette; the same colours as the RAG labels in pack.css.
RAG_COLOURS = {
    "red": "#d4351c",
    "amber": "#ffbf47",
    "green": "#00703c",
    "complete": "#1d70b8",
    "not_rated": "#b1b4b6",
}
RAG_LABELS = {
    "red": "Red",
    "amber": "Amber",
    "green": "Green",
    "complete": "Complete",
    "not_rated": "Not rated",
}
# Hatching so that the segments can be told apart in greyscale print, not by colour alone.
_RAG_HATCH = {"red": "x", "amber": "/", "green": "", "complete": "-", "not_rated": ""}

# Marker style per milestone status: (marker, face colour, edge colour, size, legend label).
_STATUS_STYLE: dict[str, tuple[str, str, str, float, str]] = {
    "met": ("D", "#00703c", "#00703c", 6.0, "Met (actual date)"),
    "missed": ("X", "#942514", "#942514", 8.0, "Missed"),
    "overdue": ("^", "#d4351c", "#d4351c", 7.5, "Overdue (due date)"),
    "due": ("o", "#ffbf47", "#0b0c0c", 7.0, "Due now (due date)"),
    "upcoming": ("o", "white", "#1d70b8", 6.5, "Forecast (due date)"),
    "waived": ("s", "white", "#505a5f", 6.0, "Waived"),
    # An Ofsted or DfE act past its forecast with no date on file: purple, its own shape, never
    # drawn as the council's overdue item.
    "not_recorded": ("h", "#4c2c92", "#4c2c92", 7.0, "Not recorded (Ofsted or DfE date to record)"),
}
_FONT = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "sans-serif"]
_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "statclock-board-pack",
    "font.family": "sans-serif",
    "font.sans-serif": _FONT,
    "font.size": 8,
    "axes.edgecolor": "#505a5f",
    "axes.linewidth": 0.6,
    "xtick.color": "#0b0c0c",
    "ytick.color": "#0b0c0c",
}
_RAG_RC = {**_RC, "hatch.linewidth": 0.6, "hatch.color": "#0b0c0c"}
_ID = re.compile(r'\bid="([^"]+)"')
_ID_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_STYLE_ELEMENT = re.compile(r"\s*<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>")
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_WIDTH_IN = 6.8  # A4 portrait less 2 x 18 mm margins is 6.85 in


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


def _style_to_attributes(match: re.Match[str]) -> str:
    declarations = (part.split(":", 1) for part in match[1].split(";") if ":" in part)
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in declarations)


def _to_svg(fig: Figure, title: str, element_id: str) -> str:
    buffer = io.StringIO()
    fig.savefig(
        buffer,
        format="svg",
        metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
    )
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    # matplotlib's ids ("figure_1", "patch_1", ...) repeat from chart to chart: prefix them so
    # that both charts can be inlined in one HTML document. Our own gids are already unique.
    # Presentation attributes instead of style="" and no <style> element: when the SVG is
    # inlined in HTML, WeasyPrint (and some mail clients) would otherwise read those as HTML CSS,
    # warning about every SVG property. The rendering is the same.
    svg = _STYLE_ELEMENT.sub("", svg)
    svg = _STYLE_ATTR.sub(_style_to_attributes, svg)
    svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    own = ("tl-", "rag-")
    ids = {i for i in _ID.findall(svg) if not i.startswith(own)}
    svg = _ID_REF.sub(
        lambda m: f"{m[1]}{element_id}-{m[2]}" if m[2] in ids else m[0],
        svg,
    )
    # Accessible name, and an id so two charts can sit in one HTML document.
    svg = svg.replace(
        "<svg ",
        f'<svg id="{element_id}" role="img" aria-labelledby="{element_id}-title" ',
        1,
    )
    head_end = svg.index(">") + 1
    svg = (
        f'{svg[:head_end]}\n <title id="{element_id}-title">{escape(title)}</title>{svg[head_end:]}'
    )
    return svg.strip() + "\n"


def _message_chart(message: str, element_id: str) -> str:
    mpl = _mpl()
    from matplotlib.figure import Figure

    with mpl.rc_context(_RC):
        fig = Figure(figsize=(_WIDTH_IN, 0.6))
        fig.text(0.5, 0.5, message, ha="center", va="center", parse_math=False)
        return _to_svg(fig, message, element_id)


def _row_label(title: str, width: int = 34) -> str:
    """A short label for a timeline row: parentheticals and recurrence numbers dropped."""
    short = re.sub(r"\s*\([^)]*\)", "", title).strip() or title
    lines = textwrap.wrap(short, width)
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder="…")]
    return "\n".join(lines)


def _short(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _month_interval(start: date, end: date) -> int:
    """Months between ticks: at most about a dozen tick labels across the page."""
    months = (end.year - start.year) * 12 + end.month - start.month
    for limit, step in ((8, 1), (18, 2), (36, 3), (72, 6), (144, 12)):
        if months <= limit:
            return step
    return 12 * (months // 144 + 1)


def timeline_svg(snapshot: Snapshot) -> str:
    """The statutory timeline chart as SVG text (see `timeline_figure`)."""
    mpl = _mpl()
    with mpl.rc_context(_RC):
        drawn = timeline_figure(snapshot)
        if drawn is None:
            return _message_chart("No milestones to show.", "timeline-chart")
        return _to_svg(drawn[0], drawn[1], "timeline-chart")


def timeline_figure(snapshot: Snapshot) -> tuple[Figure, str] | None:
    """Every milestone by due date, one row per rule (recurring visits share a row).

    The axis spans the case's active period, from the report to its last milestone. Windows are
    bars from `window_start` to `due`; a met or missed milestone with an actual date is drawn at
    its actual date (with a small grey tick at the due date), others at their due date, each
    status with its own marker shape; a dashed line marks `as_of` when it falls in the period,
    and a note at the edge says when it does not. Row labels are in bold for statutory
    milestones. Every label is kept inside the figure. Made under the caller's matplotlib
    settings: `timeline_svg` draws it with the charts' own (`_RC`). None without milestones.
    """
    milestones = list(snapshot.milestones)
    if not milestones:
        return None

    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def _num(day: date) -> float:
        return float(mdates.date2num(day))  # type: ignore[no-untyped-call]

    def _row_key(m: MilestoneRow) -> str:
        return m.rule or m.id or m.title  # recurring visits share their rule's row

    milestones.sort(key=lambda m: (m.due, m.id))
    rows: dict[str, int] = {}
    row_titles: list[str] = []
    row_statutory: list[bool] = []
    for m in milestones:
        key = _row_key(m)
        if key not in rows:
            rows[key] = len(rows)
            row_titles.append(_row_label(m.title or key))
            row_statutory.append(m.kind == "statutory")
        elif m.kind == "statutory":
            row_statutory[rows[key]] = True

    as_of = snapshot.as_of
    # The case's active period: from the report to its last milestone. Not to `as_of`: a pack
    # of a case long past (a seed council seen today) would otherwise span decades, its marks
    # crowded at one end. An `as_of` outside the period is said at the edge instead.
    all_days: list[date | None] = [m.due for m in milestones]
    all_days += [m.window_start for m in milestones]
    all_days += [m.actual for m in milestones]
    all_days.append(snapshot.inspection.anchor.date)  # the day the clock runs from
    days = [d for d in all_days if d is not None]
    first, last = min(days), max(days)

    n_rows = len(rows)
    statuses = {m.status if m.status in _STATUS_STYLE else "upcoming" for m in milestones}
    legend_rows = -(-(len(statuses) + 3) // 3)  # statuses, due tick, window, as-of; 3 a row
    bottom_in = 0.5 + 0.16 * legend_rows
    height = 0.3 + bottom_in + 0.3 * n_rows
    title = (
        f"Statutory timeline: {len(milestones)} milestones from {_short(first)} to {_short(last)}"
    )
    fig = Figure(figsize=(_WIDTH_IN, height))
    left = 2.25 / _WIDTH_IN
    fig.subplots_adjust(left=left, right=0.97, top=1 - 0.3 / height, bottom=bottom_in / height)
    ax: Axes = fig.add_subplot()
    ax.set_ylim(n_rows - 0.5, -0.5)
    for row in range(0, n_rows, 2):
        ax.axhspan(row - 0.5, row + 0.5, color="#f3f2f1", zorder=0, linewidth=0)

    # Marks of one kind are drawn as one matplotlib line each (one SVG group of <use>
    # markers): a line per milestone cost a group, a clip path and an artist apiece.
    marks: dict[str, tuple[list[float], list[int]]] = {}
    due_ticks: tuple[list[float], list[int]] = ([], [])
    has_window = False
    for i, m in enumerate(milestones):
        row = rows[_row_key(m)]
        due, start, actual = m.due, m.window_start, m.actual
        status: str = m.status
        if status not in _STATUS_STYLE:
            status = "upcoming"
        if start and start < due:
            has_window = True
            ax.barh(
                row,
                _num(due) - _num(start),
                left=_num(start),
                height=0.42,
                color="#b7d3ee",
                edgecolor="#1d70b8",
                linewidth=0.5,
                zorder=2,
                gid=f"tl-window-{i}",
                clip_on=False,
            )
        where = due
        if actual and status in ("met", "missed", "waived"):
            where = actual
            due_ticks[0].append(_num(due))
            due_ticks[1].append(row)
        xs, ys = marks.setdefault(status, ([], []))
        xs.append(_num(where))
        ys.append(row)
    if due_ticks[0]:
        ax.plot(
            *due_ticks,
            marker="|",
            markersize=9,
            color="#505a5f",
            linestyle="none",
            zorder=3,
            gid="tl-due",
            clip_on=False,
        )
    for status, (xs, ys) in marks.items():
        marker, face, edge, size, _label = _STATUS_STYLE[status]
        ax.plot(
            xs,
            ys,
            marker=marker,
            markersize=size,
            markerfacecolor=face,
            markeredgecolor=edge,
            markeredgewidth=1.1,
            linestyle="none",
            zorder=4,
            gid=f"tl-ms-{status}",
            clip_on=False,
        )

    pad = max(10, (last - first).days // 40)
    low, high = _num(first) - pad, _num(last) + pad
    ax.set_xlim(low, high)
    as_of_inside = as_of is not None and low <= _num(as_of) <= high
    if as_of_inside:
        x = _num(as_of)
        ax.axvline(x, color="#0b0c0c", linestyle="--", linewidth=1.0, zorder=5, gid="tl-today")
        # Centred over the line, or flush with the axes near either end, so that the label
        # never runs off the page.
        position = (x - low) / (high - low)
        align = "left" if position < 0.15 else "right" if position > 0.85 else "center"
        ax.annotate(
            f"As of {_short(as_of)}",
            xy=(x, 1),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2),
            textcoords="offset points",
            fontsize=7,
            fontweight="bold",
            va="bottom",
            ha=align,
            parse_math=False,
        )
    elif as_of is not None:
        after = _num(as_of) > high
        ax.annotate(
            f"As of {_short(as_of)}: {'after' if after else 'before'} every milestone "
            + ("→" if after else "←"),
            xy=(1 if after else 0, 1),
            xycoords="axes fraction",
            xytext=(0, 2),
            textcoords="offset points",
            fontsize=7,
            fontweight="bold",
            va="bottom",
            ha="right" if after else "left",
            parse_math=False,
            gid="tl-as-of-outside",
        )
    interval = _month_interval(first, last)
    ax.xaxis.set_major_locator(mdates.MonthLocator(interval=interval))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", which="major", color="#b1b4b6", linewidth=0.5, zorder=1)
    ax.set_axisbelow(True)
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(row_titles, fontsize=7, parse_math=False)
    for tick_label, statutory in zip(ax.get_yticklabels(), row_statutory, strict=True):
        if statutory:
            tick_label.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    handles: list[Any] = []
    for status, (marker, face, edge, size, label) in _STATUS_STYLE.items():
        if status in marks:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=marker,
                    markersize=size * 0.9,
                    markerfacecolor=face,
                    markeredgecolor=edge,
                    linestyle="none",
                    label=label,
                )
            )
    if any(m.actual and m.status in ("met", "missed", "waived") for m in milestones):
        handles.append(
            Line2D(
                [],
                [],
                marker="|",
                markersize=8,
                color="#505a5f",
                linestyle="none",
                label="Due date of an item done",
            )
        )
    if has_window:
        handles.append(
            Patch(facecolor="#b7d3ee", edgecolor="#1d70b8", linewidth=0.5, label="Window")
        )
    if as_of_inside:
        handles.append(Line2D([], [], color="#0b0c0c", linestyle="--", label="As-of date"))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(3, len(handles)),
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    return fig, title


def themes_in_plan_order(snapshot: Snapshot) -> dict[str, RagCounts]:
    """`rag_by_theme` in the order of the plan: by the first recommendation each theme serves,
    then by name. An archived snapshot is written with sorted keys, so the JSON's own order is
    not the plan's; this gives a remade pack the same order as the first."""
    by_theme = snapshot.rag_by_theme
    first: dict[str, float] = {}
    for action in snapshot.actions:
        number, theme = action.recommendation, action.theme
        if theme in by_theme and number is not None:
            first[theme] = min(first.get(theme, float("inf")), number)
    order = sorted(by_theme, key=lambda t: (first.get(t, float("inf")), t.casefold()))
    return {theme: by_theme[theme] for theme in order}


def rag_chart_svg(snapshot: Snapshot) -> str:
    """The action plan's RAG chart as SVG text (see `rag_chart_figure`)."""
    mpl = _mpl()
    with mpl.rc_context(_RAG_RC):
        drawn = rag_chart_figure(snapshot)
        if drawn is None:
            return _message_chart("No action plan items are rated yet.", "rag-chart")
        return _to_svg(drawn[0], drawn[1], "rag-chart")


def rag_chart_figure(snapshot: Snapshot) -> tuple[Figure, str] | None:
    """Action-plan RAG ratings by theme as stacked horizontal bars, each segment labelled with
    its count; a hatch pattern as well as a colour tells the ratings apart. Made under the
    caller's matplotlib settings (`rag_chart_svg` uses `_RAG_RC`); None with nothing rated."""
    by_theme = themes_in_plan_order(snapshot)
    themes = [(t, c) for t, c in by_theme.items() if c.total]
    if not themes:
        return None

    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    n = len(themes)
    height = 0.7 + 0.32 * n
    totals = {k: sum(c.count(k) for _, c in themes) for k in RAG_COLOURS}
    title = "Action plan RAG ratings by theme: " + ", ".join(
        f"{RAG_LABELS[k]} {v}" for k, v in totals.items()
    )
    fig = Figure(figsize=(_WIDTH_IN, height))
    fig.subplots_adjust(
        left=2.25 / _WIDTH_IN, right=0.97, top=1 - 0.15 / height, bottom=0.45 / height
    )
    ax: Axes = fig.add_subplot()
    ax.set_ylim(n - 0.5, -0.5)
    widest = 0
    for row, (_theme, counts) in enumerate(themes):
        left = 0
        for key, colour in RAG_COLOURS.items():
            value = counts.count(key)
            if not value:
                continue
            ax.barh(
                row,
                value,
                left=left,
                height=0.6,
                color=colour,
                edgecolor="#0b0c0c",
                linewidth=0.4,
                hatch=_RAG_HATCH[key] or None,
                gid=f"rag-seg-{row}-{key}",
                clip_on=False,
            )
            ax.text(
                left + value / 2,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=7.5,
                fontweight="bold",
                color="#0b0c0c",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "linewidth": 0},
            )
            left += value
        ax.annotate(
            str(left),
            xy=(left, row),
            xytext=(3, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=7.5,
            color="#0b0c0c",
            parse_math=False,
        )
        widest = max(widest, left)
    ax.set_xlim(0, widest * 1.06)  # room for the totals
    ax.set_yticks(range(n))
    ax.set_yticklabels(
        [_row_label(t[:1].upper() + t[1:]) for t, _ in themes], fontsize=7.5, parse_math=False
    )
    ax.tick_params(axis="y", length=0)
    # No x axis: every segment carries its count and every bar its total, so a scale
    # would add ink (and WeasyPrint lays out SVG text one letter at a time) but no facts.
    ax.xaxis.set_visible(False)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    handles = [
        Patch(
            facecolor=RAG_COLOURS[k],
            edgecolor="#0b0c0c",
            linewidth=0.4,
            hatch=_RAG_HATCH[k] or None,
            label=RAG_LABELS[k],
        )
        for k in RAG_COLOURS
        if totals[k]
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    return fig, title
