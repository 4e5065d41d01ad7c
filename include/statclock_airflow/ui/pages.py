"""The programme manager's pages: portfolio, council and what-if, rendered on the server.

Everything a page shows comes from the register's read model (``read_model.portfolio``,
``read_model.case_view``) and ``what_if.what_if``; the words and colours of statuses and RAG
ratings are the board packs' (``board_pack/render.py``, ``pack.css``). Jinja2 autoescapes
every template, so council data containing ``<`` or ``&`` is shown as text. No JavaScript:
sorting and filtering are GET forms and links.

Links are absolute paths under the request's ``root_path`` (``/statclock`` behind Airflow's API
server, with any base path before it), so they work both inside Airflow's iframe and when the
page is opened on its own; links to Airflow's own pages (DAG runs) drop the ``/statclock``
prefix and open at the top level (``target="_top"``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from statclock_airflow.ui import runs
from statclock_airflow.ui.context import register_session, today
from statclock_airflow.ui.feeds import feed_address
from statclock_airflow.ui.forms import FormError
from statclock_airflow.ui.security import CSRF_FIELD, ReaderDep, csrf_token, may_edit, user_name
from statutory_clock.addresses import PAGES_PREFIX
from statutory_clock.board_pack.render import (
    framework_label,
    judgement_label,
    party_label,
    rag_label,
    status_label,
)
from statutory_clock.dates import long_date
from statutory_clock.engine import DUE_SOON_WORKING_DAYS
from statutory_clock.inputs import InputError, parse_day
from statutory_clock.rules import (
    FRAMEWORKS,
    RulebookError,
    judgement_labels,
    judgements_worst_first,
    load_rulebooks,
)
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import BoardPack, Inspection
from statutory_clock.store.read_model import CaseView, PortfolioRow, case_view, portfolio
from statutory_clock.store.what_if import WhatIf, what_if

router = APIRouter()
SessionDep = Annotated[Session, Depends(register_session)]
TEMPLATES = Path(__file__).parent / "templates"
URL_PREFIX = PAGES_PREFIX
LONDON = ZoneInfo("Europe/London")
AUDIT_SHOWN = 50
WHAT_IF_ROWS = 3

# -- words and colours: the board packs' ----------------------------------------------------------

# GOV.UK tag colours for the packs' status colours (pack.css): red overdue, yellow due, purple
# not recorded, green met; missed (black) and waived (outlined) have own classes (statclock.css).
STATUS_TAGS = {
    "overdue": "govuk-tag--red",
    "due": "govuk-tag--yellow",
    "not_recorded": "govuk-tag--purple",
    "met": "govuk-tag--green",
    "missed": "app-tag--missed",
    "upcoming": "govuk-tag--grey",
    "waived": "app-tag--waived",
    "closed": "govuk-tag--grey",
}
# The packs' RAG colours: amber is the packs' yellow (#ffbf47), complete their blue.
RAG_TAGS = {
    "red": "govuk-tag--red",
    "amber": "govuk-tag--yellow",
    "green": "govuk-tag--green",
    "complete": "",  # GOV.UK's default tag is blue
    "not_rated": "govuk-tag--grey",
}
STATUS_FILTERS = {
    "overdue": "Overdue",
    "due": "Due",
    "not_recorded": "Not recorded",
    "clear": "Nothing overdue, due or to record",
}
SORTS = {
    "authority": "Council",
    "next_deadline": "Next deadline",
    "overdue": "Most overdue",
    "due": "Most due",
    "not_recorded": "Most not recorded",
    "framework": "Framework",
    "judgement": "Judgement (worst first)",
    "last_reminder": "Last reminder",
}
RECORDED = {
    "event": "The actual date has been recorded and the timeline recomputed.",
    "action": "The action plan item has been updated.",
    "adjustment": "The extension or waiver has been recorded and the timeline recomputed.",
}
# The fields of each council-page form, by the name a FormError gives (writes.py), with the
# element an error summary links to. Other names (the RegisterError's own) are aliases.
FORM_FIELDS: dict[str, dict[str, str]] = {
    "event": {"milestone": "milestone", "date": "date-day", "note": "note"},
    "action": {
        "position": "position",
        "rag": "rag",
        "note": "note",
        "date": "date-day",
    },
    "adjustment": {
        "milestone": "milestone",
        "kind": "kind",
        "extended": "extended-day",
        "reason": "reason",
        "agreed_by": "agreed_by",
    },
}
FIELD_ALIASES = {
    "status": "rag",
    "to": "extended",
    "extended_to": "extended",
    "extension": "extended",
    "agreed by": "agreed_by",
    "progress": "note",
}


def tag_class(status: str | None) -> str:
    return STATUS_TAGS.get(status or "", "govuk-tag--grey")


def rag_tag_class(rag: str | None) -> str:
    return RAG_TAGS.get(rag or "not_rated", "govuk-tag--grey")


def written(day: date | None, missing: str = "Not recorded") -> str:
    return long_date(day) if day else missing


def written_instant(moment: datetime | None) -> str:
    if moment is None:
        return "Not recorded"
    local = moment.astimezone(LONDON) if moment.tzinfo else moment
    return f"{long_date(local.date())} at {local:%H:%M}"


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def dates_in_words(text: object) -> str:
    """Text (an audit value, a basis line) with every ISO date in it written out."""

    def written_out(match: re.Match[str]) -> str:
        try:
            return long_date(date(*(int(g) for g in match.groups())))
        except ValueError:
            return match.group(0)

    return _ISO_DAY.sub(written_out, str(text))


def days_left(days: int) -> str:
    if days == 0:
        return "Due today"
    return "1 working day left" if days == 1 else f"{days} working days left"


def working_days(days: int | None) -> str:
    if days is None:
        return ""
    if days == 0:
        return "No change"
    word = "working day" if abs(days) == 1 else "working days"
    return f"{abs(days)} {word} {'later' if days > 0 else 'earlier'}"


def reminder_kind(kind: str) -> str:
    """The lead-time policy's step in words: 'before_5' -> '5 working days before'."""
    step, _, number = kind.rpartition("_")
    if number.isdigit() and step in ("before", "overdue"):
        days = f"{number} working day{'' if number == '1' else 's'}"
        return f"{days} before" if step == "before" else f"{days} overdue"
    return {
        "due_today": "On the day it is due",
        "deadline_changed": "Deadline changed",
    }.get(kind, kind.replace("_", " ").capitalize())


def reminder_item(item: str, titles: Mapping[str, str]) -> str:
    kind, _, ident = item.partition(":")
    if kind == "milestone":
        return titles.get(ident, ident)
    if kind == "action":
        return f"Action {ident}"
    return item


def framework_short(value: str | None) -> str:
    book = load_rulebooks().get(value or "")
    return book.short_label if book else framework_label(value)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "svg"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        written=written,
        written_instant=written_instant,
        status_label=status_label,
        tag_class=tag_class,
        rag_label=rag_label,
        rag_tag_class=rag_tag_class,
        party_label=party_label,
        framework_label=framework_label,
        framework_short=framework_short,
        judgement_label=judgement_label,
        days_left=days_left,
        dates_in_words=dates_in_words,
        working_days=working_days,
        reminder_kind=reminder_kind,
        quote=lambda text: quote(str(text), safe=""),
    )
    env.globals.update(plural=plural, DUE_SOON_WORKING_DAYS=DUE_SOON_WORKING_DAYS)
    return env


# -- addresses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """Where things are, for this request: the app's root (with the mount prefix) and
    Airflow's own (without it)."""

    root: str
    airflow: str

    @classmethod
    def of(cls, request: Request) -> Links:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        airflow = root.removesuffix(URL_PREFIX) if root.endswith(URL_PREFIX) else ""
        return cls(root, airflow)

    def static(self, path: str) -> str:
        return f"{self.root}/static/{path}"

    def portfolio(self, **query: str) -> str:
        kept = {k: v for k, v in query.items() if v}
        return f"{self.root}/" + (f"?{urlencode(kept)}" if kept else "")

    def council(self, key: str, suffix: str = "") -> str:
        return f"{self.root}/councils/{quote(key, safe='')}{suffix}"

    def pack(self, key: str, period: str, version: int) -> str:
        return self.council(key, f"/packs/{quote(period, safe='')}/{version}.pdf")

    def run(self, link: runs.RunLink) -> str:
        return f"{self.airflow}{link.path()}"


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    page = (
        environment()
        .get_template(template)
        .render(links=Links.of(request), today=context.pop("today", None) or today(), **context)
    )
    return HTMLResponse(page, status_code=status_code)


def not_found(request: Request, key: str) -> HTMLResponse:
    return render(request, "not_found.html", status_code=404, key=key)


# -- the portfolio --------------------------------------------------------------------------------


@dataclass
class PortfolioQuery:
    """The portfolio's filters and order, from the query string; invalid values are ignored,
    each with a message saying so."""

    framework: str = ""
    judgement: str = ""
    status: str = ""
    sort: str = "authority"
    closed: bool = False
    ignored: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, params: Mapping[str, str]) -> PortfolioQuery:
        query = cls(closed=params.get("closed", "") in ("1", "on", "yes", "true"))
        judgements = set(judgement_labels())
        checks: list[tuple[str, Callable[[str], bool], str]] = [
            ("framework", lambda v: v in FRAMEWORKS, ", ".join(FRAMEWORKS)),
            ("judgement", lambda v: v in judgements, ", ".join(sorted(judgements))),
            ("status", lambda v: v in STATUS_FILTERS, ", ".join(STATUS_FILTERS)),
            ("sort", lambda v: v in SORTS, ", ".join(SORTS)),
        ]
        for name, valid, allowed in checks:
            value = params.get(name, "")
            if not value:
                continue
            if valid(value):
                setattr(query, name, value)
            else:
                shown = value if len(value) <= 40 else value[:40] + "..."
                query.ignored.append(
                    f"{name}: {shown!r} is not one of {allowed}, so it was ignored"
                )
        return query

    def params(self, **changes: str) -> dict[str, str]:
        base = {
            "framework": self.framework,
            "judgement": self.judgement,
            "status": self.status,
            "sort": "" if self.sort == "authority" else self.sort,
            "closed": "1" if self.closed else "",
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v}

    def keep(self, row: PortfolioRow) -> bool:
        if self.framework and row.framework != self.framework:
            return False
        if self.judgement and row.judgement != self.judgement:
            return False
        counts = row.counts
        if self.status == "clear":
            return not (counts.overdue or counts.due or counts.not_recorded)
        return not self.status or getattr(counts, self.status) > 0

    def order(self, rows: list[PortfolioRow]) -> list[PortfolioRow]:
        far = date.max

        def judgement_rank(row: PortfolioRow) -> int:
            order = judgements_worst_first()
            j = row.judgement or ""
            return order.index(j) if j in order else len(order)

        keys: dict[str, Callable[[PortfolioRow], Any]] = {
            "authority": lambda r: (r.authority.casefold(), r.key),
            "next_deadline": lambda r: (r.next_deadline.due if r.next_deadline else far, r.key),
            "overdue": lambda r: (-r.counts.overdue, r.authority.casefold()),
            "due": lambda r: (-r.counts.due, r.authority.casefold()),
            "not_recorded": lambda r: (-r.counts.not_recorded, r.authority.casefold()),
            "framework": lambda r: (framework_short(r.framework), r.authority.casefold()),
            "judgement": lambda r: (judgement_rank(r), r.authority.casefold()),
            "last_reminder": lambda r: (
                -(r.last_reminder_sent or date.min).toordinal(),
                r.authority.casefold(),
            ),
        }
        return sorted(rows, key=keys[self.sort])


def _pack_files(session: Session, rows: Sequence[PortfolioRow]) -> set[tuple[str, str, int]]:
    """(key, period, version) of each row's last pack whose PDF is on disk."""
    wanted = {(r.key, r.last_pack.period, r.last_pack.version) for r in rows if r.last_pack}
    if not wanted:
        return set()
    found = session.execute(
        select(Inspection.key, BoardPack.period_label, BoardPack.version, BoardPack.pdf_path)
        .join(BoardPack, BoardPack.inspection_id == Inspection.id)
        .where(Inspection.key.in_({k for k, _, _ in wanted}))
    )
    return {
        (key, period, version)
        for key, period, version, path in found
        if (key, period, version) in wanted and Path(path).is_file()
    }


@router.get("/", response_class=HTMLResponse, name="portfolio")
def portfolio_page(request: Request, user: ReaderDep, session: SessionDep) -> HTMLResponse:
    query = PortfolioQuery.of(request.query_params)
    as_of = today()
    every = portfolio(session, as_of, include_closed=query.closed)
    shown = query.order([r for r in every if query.keep(r)])
    open_rows = [r for r in shown if r.state == "open"]
    totals = {
        name: sum(getattr(r.counts, name) for r in open_rows)
        for name in ("overdue", "due", "not_recorded")
    }
    return render(
        request,
        "portfolio.html",
        today=as_of,
        user=user_name(user),
        rows=shown,
        total=len(every),
        open_count=len(open_rows),
        totals=totals,
        query=query,
        frameworks=[(f, framework_short(f)) for f in FRAMEWORKS],
        judgements=[(j, judgement_label(j)) for j in judgements_worst_first()],
        statuses=STATUS_FILTERS,
        sorts=SORTS,
        pack_files=_pack_files(session, shown),
        feed=feed_address(request, session, None),
    )


# -- the council page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartRow:
    id: str
    title: str
    status: str
    y: float
    due_x: float
    forecast_x: float | None  # where the rules' date was, when an extension moved it
    window: tuple[float, float] | None
    actual_x: float | None


@dataclass(frozen=True)
class Chart:
    """A server-drawn SVG timeline: one row per milestone, positions precomputed here."""

    width: int
    height: int
    label_width: int
    rows: tuple[ChartRow, ...]
    ticks: tuple[tuple[float, str], ...]
    today_x: float | None
    top: int
    description: str


CHART_WIDTH, LABEL_WIDTH, ROW_HEIGHT, TOP = 960, 300, 22, 28
BOTTOM = 26  # room for the "Today" label


def timeline_chart(view: CaseView) -> Chart | None:
    entries = view.timeline
    if not entries:
        return None
    days = [view.as_of]
    for e in entries:
        days += [e.forecast_due, e.effective_due]
        days += [d for d in (e.window_start, e.actual) if d]
    first, last = min(days), max(days)
    first = date(first.year, first.month, 1)
    span = max((last - first).days, 1) + 15
    plot = CHART_WIDTH - LABEL_WIDTH - 20

    def x(day: date) -> float:
        return round(LABEL_WIDTH + plot * (day - first).days / span, 1)

    rows = []
    for i, e in enumerate(entries):
        rows.append(
            ChartRow(
                id=e.id,
                title=e.title,
                status=e.status,
                y=TOP + i * ROW_HEIGHT + ROW_HEIGHT / 2,
                due_x=x(e.effective_due),
                forecast_x=x(e.forecast_due) if e.effective_due != e.forecast_due else None,
                window=(x(e.window_start), x(e.effective_due)) if e.window_start else None,
                actual_x=x(e.actual) if e.actual else None,
            )
        )
    # A tick on the first of each month, or of each quarter or year over a longer span.
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = 1 if months <= 14 else 3 if months <= 42 else 12
    ticks = []
    y_, m_ = first.year, first.month
    while date(y_, m_, 1) <= last:
        day = date(y_, m_, 1)
        if (m_ - 1) % step == 0:
            label = f"{day:%b %Y}" if step < 12 else f"{day:%Y}"
            ticks.append((x(day), label))
        m_ += 1
        if m_ > 12:
            y_, m_ = y_ + 1, 1
    counted = ", ".join(
        plural(n, status_label(s).lower(), status_label(s).lower())
        for s, n in vars(view.counts).items()
        if n
    )
    description = (
        f"{plural(len(entries), 'milestone')} from {long_date(min(days))} to "
        f"{long_date(max(days))}: {counted}. The table below gives every date."
    )
    return Chart(
        width=CHART_WIDTH,
        height=TOP + len(entries) * ROW_HEIGHT + BOTTOM,
        label_width=LABEL_WIDTH,
        rows=tuple(rows),
        ticks=tuple(ticks),
        today_x=x(view.as_of) if first <= view.as_of <= last else None,
        top=TOP,
        description=description,
    )


def _run_links(view: CaseView) -> dict[str, tuple[runs.RunLink, ...]]:
    moments: dict[str, list[datetime]] = {}
    for entry in view.audit:
        if entry.entity.startswith("milestone "):
            moments.setdefault(entry.entity.removeprefix("milestone "), []).append(entry.at)
    return runs.runs_at(moments)


def _error_target(error: FormError) -> tuple[str, str | None]:
    """(element id the error summary links to, the form field shown in error or None)."""
    fields = FORM_FIELDS.get(error.form, {})
    name = FIELD_ALIASES.get(error.field, error.field)
    if name in fields:
        return f"{error.form}-{fields[name]}", name
    return f"record-{error.form}", None


def render_council(
    request: Request,
    session: Session,
    key: str,
    user: BaseUser,
    *,
    error: FormError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The council page; with ``error``, the form it names shows it (the writes' refusals)."""
    as_of = today()
    try:
        view = case_view(session, key, as_of)
    except RegisterError:
        return not_found(request, key)
    params = request.query_params
    item = params.get("item", "")
    reminders = [r for r in view.reminders if not item or r.item == item]
    reminders.sort(key=lambda r: (r.sent_on, r.due), reverse=True)
    reminder_counts: dict[str, int] = {}
    for r in view.reminders:
        reminder_counts[r.item] = reminder_counts.get(r.item, 0) + 1
    audit = list(reversed(view.audit))
    show_all = params.get("audit") == "all"
    titles = {e.id: e.title for e in view.timeline}
    recorded = params.get("recorded", "")
    error_href, error_field = _error_target(error) if error else ("", None)
    return render(
        request,
        "council.html",
        status_code=status_code,
        today=as_of,
        user=user_name(user),
        view=view,
        chart=timeline_chart(view),
        runs=_run_links(view),
        reminders=reminders,
        reminder_counts=reminder_counts,
        item=item,
        item_title=reminder_item(item, titles) if item else "",
        titles=titles,
        audit=audit if show_all else audit[:AUDIT_SHOWN],
        audit_total=len(audit),
        audit_all=show_all,
        pack_files=_case_pack_files(session, key),
        feed=feed_address(request, session, key),
        may_edit=may_edit(user),
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request),
        recorded=RECORDED.get(recorded, ""),
        # The fact is committed but Airflow could not be told (see writes.py): say when the
        # statutory_clock DAG will pick it up instead.
        recompute_later=recorded in RECORDED and params.get("recompute") == "later",
        recorded_kind=recorded if recorded in RECORDED else "",
        error=error,
        error_href=error_href,
        error_field=error_field,
        rag_choices=[(r, rag_label(r)) for r in ("red", "amber", "green", "complete")],
        what_if_rows=range(1, WHAT_IF_ROWS + 1),
        open_milestones=[e for e in view.timeline if e.status not in ("met", "closed")],
    )


def _case_pack_files(session: Session, key: str) -> set[tuple[str, int]]:
    found = session.execute(
        select(BoardPack.period_label, BoardPack.version, BoardPack.pdf_path)
        .join(Inspection, BoardPack.inspection_id == Inspection.id)
        .where(Inspection.key == key)
    )
    return {(period, version) for period, version, path in found if Path(path).is_file()}


@router.get("/councils/{key}", response_class=HTMLResponse, name="council")
def council_page(request: Request, key: str, user: ReaderDep, session: SessionDep) -> HTMLResponse:
    return render_council(request, session, key, user)


# -- board pack downloads -------------------------------------------------------------------------


@router.get(
    "/councils/{key}/packs/{period:path}/{version}.pdf", name="pack_pdf", response_model=None
)
def pack_pdf(
    request: Request, key: str, period: str, version: int, user: ReaderDep, session: SessionDep
) -> Response:
    """An archived board pack's PDF, checked against the checksum recorded when it was made."""
    row = session.execute(
        select(BoardPack)
        .join(Inspection, BoardPack.inspection_id == Inspection.id)
        .where(
            Inspection.key == key,
            BoardPack.period_label == period,
            BoardPack.version == version,
        )
    ).scalar_one_or_none()
    if row is None:
        return render(
            request,
            "problem.html",
            status_code=404,
            title="Board pack not found",
            message=f"There is no board pack {period!r} version {version} for {key!r}.",
            key=key,
        )
    path = Path(row.pdf_path)
    data = path.read_bytes() if path.is_file() else None
    if data is None or hashlib.sha256(data).hexdigest() != row.sha256:
        problem = "is not in the archive" if data is None else "does not match its checksum"
        return render(
            request,
            "problem.html",
            status_code=404 if data is None else 409,
            title="Board pack not available",
            message=f"The PDF of the {period} pack (version {version}) {problem}.",
            key=key,
        )
    name = f"{key}-{period}-v{version}.pdf".replace(" ", "-")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- what-if --------------------------------------------------------------------------------------


def date_input(params: Mapping[str, str], name: str, field: str) -> date | None:
    """A GOV.UK date input (``<name>-day``, ``-month``, ``-year``): None when all three are
    blank; an InputError naming ``field`` and what was typed when it is not a date."""
    parts = [params.get(f"{name}-{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None
    typed = "/".join(parts)
    if not all(parts):
        raise InputError(field, typed, "is not a complete date: give the day, month and year")
    if not all(p.isdigit() and len(p) <= 4 for p in parts):
        raise InputError(field, typed, "is not a date: use numbers, for example 11 12 2017")
    day, month, year = (int(p) for p in parts)
    return parse_day(field, f"{year:04d}-{month:02d}-{day:02d}")


@dataclass(frozen=True)
class WhatIfForm:
    published: date | None
    events: dict[str, date]
    values: Mapping[str, str]  # what was typed, to fill the form again


def what_if_form(params: Mapping[str, str]) -> WhatIfForm:
    published = date_input(params, "published", "publication date")
    events: dict[str, date] = {}
    for n in range(1, WHAT_IF_ROWS + 1):
        milestone = params.get(f"milestone-{n}", "").strip()
        day = date_input(params, f"date-{n}", f"date {n}")
        if milestone and day is None:
            raise InputError(f"date {n}", "", f"is needed for milestone {milestone!r}")
        if day is not None and not milestone:
            raise InputError(f"milestone {n}", "", "is needed: choose which milestone")
        if milestone and day is not None:
            if milestone in events:
                raise InputError(f"milestone {n}", milestone, "is chosen twice")
            events[milestone] = day
    return WhatIfForm(published, events, dict(params))


@router.get("/councils/{key}/what-if", response_class=HTMLResponse, name="what_if")
def what_if_page(request: Request, key: str, user: ReaderDep, session: SessionDep) -> HTMLResponse:
    as_of = today()
    try:
        view = case_view(session, key, as_of)
    except RegisterError:
        return not_found(request, key)
    problem, unavailable = "", False
    result: WhatIf | None = None
    values: Mapping[str, str] = dict(request.query_params)
    try:
        form = what_if_form(request.query_params)
        if form.published is not None or form.events:
            result = what_if(
                session, key, published=form.published, events=form.events, as_of=as_of
            )
    except (InputError, RegisterError) as exc:
        problem = str(exc)
    except RulebookError as exc:  # the operator's rules overlay: not the reader's input
        problem, unavailable = (
            f"The rules cannot be read, so nothing can be worked out: {exc}",
            True,
        )
    return render(
        request,
        "what_if.html",
        status_code=503 if unavailable else 400 if problem else 200,
        today=as_of,
        user=user_name(user),
        view=view,
        result=result,
        problem=problem,
        values=values,
        what_if_rows=range(1, WHAT_IF_ROWS + 1),
    )
