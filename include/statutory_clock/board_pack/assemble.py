"""Assembling a board pack from the case register: the snapshot, the archive, the schedule.

The snapshot is a typed frozen object (``snapshot.Snapshot``), archived as JSON. It is built only
from the register, as of a given day, so a pack can be regenerated and audited: the exact snapshot
a PDF was made from is archived beside it (``snapshot.json``) with the PDF's checksum.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from statutory_clock.board_pack.snapshot import (
    ActionRow,
    Anchor,
    Board,
    Changes,
    Council,
    Headline,
    InspectionSummary,
    Intervention,
    JudgementRecord,
    MilestoneRow,
    MonitoringVisit,
    MovedMilestone,
    NextDeadline,
    Period,
    ProgressNote,
    RagChange,
    RagCounts,
    RuleUsed,
    Snapshot,
)
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.dates import long_date
from statutory_clock.engine import add_months
from statutory_clock.mail_headers import header_text, safe_filename, sealed, start_message
from statutory_clock.rules import load_rulebooks
from statutory_clock.store.audit import audit
from statutory_clock.store.models import BoardPack, Inspection, LocalAuthority
from statutory_clock.store.read_model import (
    StatusCounts,
    latest_judgement,
    next_deadline,
    timeline,
)
from statutory_clock.store.reading import calendar_for, get_case

PACK_LEAD_WORKING_DAYS = 5  # a pack is ready this many working days before the meeting
DEFAULT_PACK_WORKING_DAY = 5  # with no meeting dates: monthly, on the fifth working day
MONITORING_RULES = ("first_monitoring_visit", "monitoring_visit")
# Characters of a board's and a council's name kept in a pack email's subject line.
SUBJECT_BOARD = 80
SUBJECT_AUTHORITY = 100


class PackError(ValueError):
    """A pack cannot be made as asked; the message names the field and the value."""


@dataclass(frozen=True)
class PackJob:
    """One pack to make: which case, which period, for which meeting."""

    case_key: str
    period_start: date
    period_end: date
    period_label: str
    meeting_date: date | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_key": self.case_key,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "period_label": self.period_label,
            "meeting_date": self.meeting_date.isoformat() if self.meeting_date else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PackJob:
        meeting = raw.get("meeting_date")
        return cls(
            str(raw["case_key"]),
            date.fromisoformat(str(raw["period_start"])),
            date.fromisoformat(str(raw["period_end"])),
            str(raw["period_label"]),
            date.fromisoformat(str(meeting)) if meeting else None,
        )


# -- which packs are due ------------------------------------------------------------------------


def nth_working_day(year: int, month: int, n: int, calendar: WorkingDayCalendar) -> date:
    return calendar.add_working_days(date(year, month, 1) - timedelta(days=1), n)


def due_packs(
    session: Session, as_of: date, calendar: WorkingDayCalendar | None = None
) -> list[PackJob]:
    """The packs to make on ``as_of`` for every open case with an improvement board.

    With meeting dates in the register: a pack for the next meeting once ``as_of`` is within
    PACK_LEAD_WORKING_DAYS working days of it, covering the time since the previous meeting.
    Without: monthly on the DEFAULT_PACK_WORKING_DAY-th working day, covering the previous
    calendar month. A pack already archived for that period is not made again (a re-run of
    the DAG is a no-op); an ad-hoc pack is a manual run, which always makes a new version.
    """
    calendar = calendar or calendar_for(session)
    cases = (
        session.execute(
            select(Inspection).where(Inspection.open.is_(True)).order_by(Inspection.key)
        )
        .scalars()
        .all()
    )
    made = {
        (case_id, label)
        for case_id, label in session.execute(
            select(BoardPack.inspection_id, BoardPack.period_label)
        )
    }
    jobs = []
    for case in cases:
        if case.board is None:
            continue
        job = _job_for(case, as_of, calendar)
        if job is not None and (case.id, job.period_label) not in made:
            jobs.append(job)
    return jobs


def _job_for(case: Inspection, as_of: date, calendar: WorkingDayCalendar) -> PackJob | None:
    assert case.board is not None
    meetings = sorted(m.date for m in case.board.meetings if m.precision == "day")
    upcoming = [d for d in meetings if d >= as_of]
    if upcoming:
        meeting = upcoming[0]
        ready_by = calendar.add_working_days(meeting, -PACK_LEAD_WORKING_DAYS)
        if as_of < ready_by:
            return None
        earlier = [d for d in meetings if d < meeting]
        start = earlier[-1] if earlier else add_months(meeting, -1)
        return PackJob(
            case.key, start, meeting - timedelta(days=1), f"board {meeting.isoformat()}", meeting
        )
    pack_day = nth_working_day(as_of.year, as_of.month, DEFAULT_PACK_WORKING_DAY, calendar)
    if as_of < pack_day:
        return None
    last_month_end = date(as_of.year, as_of.month, 1) - timedelta(days=1)
    start = date(last_month_end.year, last_month_end.month, 1)
    return PackJob(case.key, start, last_month_end, f"{start:%B %Y}", None)


# -- the snapshot ---------------------------------------------------------------------------------


def build_snapshot(
    session: Session,
    job: PackJob,
    as_of: date,
    version: int,
    generated_at: datetime,
    previous: Snapshot | None = None,
    calendar: WorkingDayCalendar | None = None,
) -> Snapshot:
    """Everything the pack shows, from the register, as of ``as_of``."""
    calendar = calendar or calendar_for(session)
    case = get_case(session, job.case_key)
    la = case.local_authority
    # Statuses, counts and the next deadline come from the read model, as everywhere else.
    entries = timeline(case, as_of, calendar)
    milestones = tuple(
        MilestoneRow(
            id=e.id,
            title=e.title,
            due=e.effective_due,
            window_start=e.window_start,
            actual=e.actual,
            status=e.status,
            party=e.party,
            rule=e.rule,
            source=e.source,
            basis=e.basis + (f"; extended to {e.extended_to.isoformat()}" if e.extended_to else ""),
            confidence=e.confidence,
            kind=e.kind,
            owner=e.owner,
            reason=e.adjustment_reason,
            act_by=e.act_by,
        )
        for e in entries
    )
    horizon = as_of + timedelta(days=90)
    statutory = next_deadline(entries, as_of, calendar, kinds=("statutory",))
    counts = StatusCounts.of(e.status for e in entries)
    recommendations = {r.number: r for r in case.recommendations}
    actions: list[ActionRow] = []
    for a in case.actions:
        rec = recommendations.get(a.recommendation or -1)
        actions.append(
            ActionRow(
                recommendation=a.recommendation,
                recommendation_text=rec.text if rec else None,
                theme=(rec.theme if rec and rec.theme else "not themed"),
                required_outcome=a.required_outcome,
                lead_officer=a.lead_officer,
                key_tasks=a.key_tasks,
                progress=tuple(ProgressNote(p.date, p.note) for p in a.progress),
                target_date=a.target_date,
                status=a.status,
                smt_lead=a.smt_lead,
            )
        )
    themes: dict[str, list[str | None]] = {}
    for row in actions:
        themes.setdefault(row.theme, []).append(row.status)
    rag_by_theme = {theme: RagCounts.of(ratings) for theme, ratings in themes.items()}
    findings = {e.milestone: e.note for e in case.events if e.kind == "actual" and e.note}
    monitoring = tuple(
        MonitoringVisit(m.id, m.due, m.actual, findings.get(m.id))
        for m in milestones
        if m.rule.split(".", 1)[-1] in MONITORING_RULES
    )
    books = load_rulebooks()
    rules_used = []
    for ref in sorted({m.rule for m in milestones}):
        framework, _, rule_id = ref.partition(".")
        rule = (
            next((r for r in books[framework].rules if r.id == rule_id), None)
            if framework in books
            else None
        )
        sample = next(m for m in milestones if m.rule == ref)
        rules_used.append(
            RuleUsed(
                rule=ref,
                title=rule.title if rule else sample.title,
                source=sample.source,
                confidence=sample.confidence,
                notes=rule.notes if rule else "",
            )
        )
    intervention = None
    if case.intervention is not None:
        iv = case.intervention
        parts = []
        typed = [e for e in iv.interventions or () if isinstance(e, dict)]
        if iv.direction and not any(
            e.get("kind") == "direction" and e.get("date") == iv.direction.isoformat()
            for e in typed
        ):
            parts.append(f"Statutory direction of {iv.direction:%-d %B %Y}")
        parts += [_intervention_text(e) for e in typed]
        if iv.commissioner:
            parts.append(f"DfE commissioner {iv.commissioner}")
        if iv.reviews:
            parts.append(f"DfE reviews {iv.reviews.replace('_', '-')}")
        intervention = Intervention(
            direction=iv.direction,
            commissioner=iv.commissioner,
            independent_chair=iv.independent_chair,
            adviser=iv.adviser,
            status_text="; ".join(parts) + "." if parts else (iv.notes or "In place."),
        )
    history = session.execute(
        select(Inspection.published, Inspection.framework, Inspection.judgements)
        .join(LocalAuthority)
        .where(LocalAuthority.dfe_code == la.dfe_code)
        .order_by(Inspection.published)
    ).all()
    board = case.board
    return Snapshot(
        council=Council(la.name, la.dfe_code),
        board=Board(
            name=board.name if board else "Improvement board",
            chair=board.chair if board else None,
            meeting_date=job.meeting_date,
            cadence=board.cadence if board else None,
        ),
        period=Period(job.period_start, job.period_end, job.period_label),
        as_of=as_of,
        generated_at=generated_at,
        version=version,
        inspection=InspectionSummary(
            framework=case.framework,
            title=case.title,
            published=case.published,
            received=case.received,
            anchor=(
                Anchor(case.received, "receipt")
                if case.received
                else Anchor(case.published, "publication")
            ),
            judgements=dict(case.judgements),
            lscb_review=case.lscb_review,
        ),
        judgement_history=tuple(
            JudgementRecord(
                published,
                framework,
                (judgements or {}).get("overall"),
                None
                if (judgements or {}).get("overall")
                else latest_judgement(framework, judgements or {}),
            )
            for published, framework, judgements in history
        ),
        headline=Headline(
            next_deadline=(
                NextDeadline(
                    statutory.id, statutory.title, statutory.due, statutory.working_days_left
                )
                if statutory is not None
                else None
            ),
            overdue_count=counts.overdue,
            missed_count=counts.missed,
            met_count=counts.met,
            upcoming_count=counts.upcoming + counts.due,
            not_recorded_count=counts.not_recorded,
        ),
        milestones=milestones,
        next_90_days=tuple(
            m for m in milestones if m.status in ("upcoming", "due") and as_of <= m.due <= horizon
        ),
        overdue_and_missed=tuple(m for m in milestones if m.status in ("overdue", "missed")),
        actions=tuple(actions),
        rag_by_theme=rag_by_theme,
        rag_totals=sum(rag_by_theme.values(), RagCounts()),
        changes_since_previous=changes_between(previous, milestones, actions),
        monitoring_visits=monitoring,
        intervention=intervention,
        rules_appendix=tuple(rules_used),
    )


def changes_between(
    previous: Snapshot | None,
    milestones: Sequence[MilestoneRow],
    actions: Sequence[ActionRow],
) -> Changes:
    """New, moved and completed milestones and RAG changes since the previous pack."""
    if previous is None:
        return Changes.none()
    before = {m.id: m for m in previous.milestones}
    done = ("met", "missed", "waived")
    old_rag = {(a.recommendation, i): a.status for i, a in enumerate(previous.actions)}
    return Changes(
        previous_version_date=previous.as_of,
        new=tuple(m.title for m in milestones if m.id not in before),
        moved=tuple(
            MovedMilestone(m.id, m.title, before[m.id].due, m.due)
            for m in milestones
            if m.id in before and before[m.id].due != m.due
        ),
        completed=tuple(
            m.title
            for m in milestones
            if m.status in done and m.id in before and before[m.id].status not in done
        ),
        rag_changes=tuple(
            RagChange(a.recommendation, old_rag[key], a.status)
            for i, a in enumerate(actions)
            if (key := (a.recommendation, i)) in old_rag and old_rag[key] != a.status
        ),
    )


# -- the archive --------------------------------------------------------------------------------


def previous_snapshot(session: Session, case: Inspection) -> Snapshot | None:
    """The snapshot of the latest archived pack of this case, if any."""
    latest = (
        session.execute(
            select(BoardPack)
            .where(BoardPack.inspection_id == case.id)
            .order_by(BoardPack.created_at.desc(), BoardPack.id.desc())
        )
        .scalars()
        .first()
    )
    if latest is None or not Path(latest.snapshot_path).exists():
        return None
    return Snapshot.from_json(Path(latest.snapshot_path).read_text(encoding="utf-8"))


def next_version(session: Session, case: Inspection, period_label: str) -> int:
    current = session.execute(
        select(func.max(BoardPack.version)).where(
            BoardPack.inspection_id == case.id, BoardPack.period_label == period_label
        )
    ).scalar_one()
    return int(current or 0) + 1


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in label).strip("-").lower()


def _write_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet, atomically (temp file + rename)."""
    if path.exists():
        raise PackError(f"archive: {path} already exists; packs are never overwritten")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def archive_pack(
    session: Session,
    job: PackJob,
    snapshot: Snapshot,
    html: str,
    pdf: bytes,
    directory: Path,
    actor: str,
) -> BoardPack:
    """Store the pack (PDF, HTML, snapshot JSON) as a new version, in the caller's transaction."""
    case = get_case(session, job.case_key)
    version = snapshot.version
    folder = directory / case.key / _safe(job.period_label) / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    snapshot_bytes = snapshot.to_json().encode()
    paths = {
        "pdf": folder / "pack.pdf",
        "html": folder / "pack.html",
        "snapshot": folder / "snapshot.json",
    }
    _write_new(paths["snapshot"], snapshot_bytes)
    _write_new(paths["html"], html.encode("utf-8"))
    _write_new(paths["pdf"], pdf)
    row = BoardPack(
        inspection_id=case.id,
        period_label=job.period_label,
        period_start=job.period_start,
        period_end=job.period_end,
        meeting_date=job.meeting_date,
        version=version,
        pdf_path=str(paths["pdf"]),
        html_path=str(paths["html"]),
        snapshot_path=str(paths["snapshot"]),
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    audit(
        session,
        actor,
        "board pack archived",
        case.key,
        f"board pack {job.period_label}",
        "version",
        None,
        version,
        f"sha256 {row.sha256}",
    )
    session.flush()
    return row


def pack_recipients(case: Inspection, programme_manager: str) -> list[str]:
    """The board's distribution list, or the programme manager if it has none."""
    listed = list(case.board.distribution) if case.board else []
    return listed or [programme_manager]


def compose_pack_email(
    pack: BoardPack, case: Inspection, recipient: str, sender: str, at: datetime, message_id: str
) -> EmailMessage:
    """The pack as an email: the HTML pack as the body, a short text part, the PDF attached."""
    board = header_text(case.board.name or "", SUBJECT_BOARD) if case.board else ""
    board = board or "Improvement board"
    authority = header_text(case.local_authority.name, SUBJECT_AUTHORITY)
    period = header_text(pack.period_label, 40)
    meeting = f" for the meeting on {long_date(pack.meeting_date)}" if pack.meeting_date else ""
    msg = start_message(
        subject=f"{board} pack: {authority}, {period}{meeting} (version {pack.version})",
        sender=sender,
        recipient=recipient,
        sent_at=at,
        message_id=message_id,
        extra=[
            ("X-Statclock-Case", case.key),
            ("X-Statclock-Item", f"board_pack:{pack.period_label}"),
        ],
    )
    msg.set_content(
        f"The {board} pack for {authority}, {period}{meeting}, "
        f"is attached as a PDF (version {pack.version}, SHA-256 {pack.sha256}).\n\n"
        "The same pack follows as the HTML part of this email.\n"
    )
    msg.add_alternative(Path(pack.html_path).read_text(encoding="utf-8"), subtype="html")
    filename = safe_filename(f"{case.key}-{_safe(pack.period_label)}-v{pack.version}.pdf")
    msg.add_attachment(
        Path(pack.pdf_path).read_bytes(), maintype="application", subtype="pdf", filename=filename
    )
    return sealed(msg)


def make_pack(
    engine: Any, job: PackJob, as_of: date, directory: Path, actor: str, programme_manager: str
) -> dict[str, Any]:
    """Build, render, archive and queue one pack for sending; returns what was made.

    Rendering (seconds) happens outside any transaction, so the register is never locked
    while a PDF is drawn. The version is claimed under the case's row lock when archiving; if
    another run claimed it meanwhile, the pack is rebuilt for the next version.
    """
    from statutory_clock.board_pack import render_pack
    from statutory_clock.store.db import transaction
    from statutory_clock.store.outbox import queue_pack

    while True:
        with transaction(engine) as session:
            case = get_case(session, job.case_key)
            version = next_version(session, case, job.period_label)
            snapshot = build_snapshot(
                session, job, as_of, version, datetime.now(UTC), previous_snapshot(session, case)
            )
        rendered = render_pack(snapshot)
        html, pdf = rendered.html, rendered.pdf
        with transaction(engine) as session:
            case = get_case(session, job.case_key, lock=True)
            if next_version(session, case, job.period_label) != version:
                continue  # someone archived this version first: make the next one
            _clear_orphan(directory, case.key, job.period_label, version)
            pack = archive_pack(session, job, snapshot, html, pdf, directory, actor)
            queue_pack(session, pack, pack_recipients(case, programme_manager), as_of)
            return {
                "case_key": case.key,
                "period_label": job.period_label,
                "version": version,
                "pdf": pack.pdf_path,
                "sha256": pack.sha256,
                "pages_bytes": len(pdf),
            }


def _clear_orphan(directory: Path, key: str, label: str, version: int) -> None:
    """Files of a version whose archiving transaction never committed belong to nobody."""
    import shutil

    folder = directory / key / _safe(label) / f"v{version}"
    if folder.exists():
        shutil.rmtree(folder)


def ad_hoc_job(session: Session, params: Mapping[str, Any], as_of: date) -> PackJob:
    """A pack for one case and period, asked for by a person (defaults: the month to date)."""
    key = str(params["case_key"])
    if not get_case(session, key).open:  # get_case: a clear error if there is no such case
        raise PackError(f"case_key: {key!r} is closed; a closed case gets no packs")

    def day(name: str, default: date | None) -> date | None:
        raw = params.get(name)
        if not raw:
            return default
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise PackError(f"{name}: {raw!r} is not a date YYYY-MM-DD") from None

    start = day("period_start", date(as_of.year, as_of.month, 1))
    end = day("period_end", as_of)
    assert start is not None and end is not None
    if end < start:
        raise PackError(f"period_end: {end.isoformat()} is before period_start {start.isoformat()}")
    meeting = day("meeting_date", None)
    label = f"ad hoc {start.isoformat()} to {end.isoformat()}"
    return PackJob(key, start, end, label, meeting)


def _intervention_text(entry: Mapping[str, Any]) -> str:
    """One typed intervention as the pack says it: "DfE improvement notice of 19 May 2016" or
    "Statutory direction of 30 November 2023 (appoints a commissioner; names an independent
    chair)"."""
    kind = "Statutory direction" if entry.get("kind") == "direction" else "DfE improvement notice"
    when = date.fromisoformat(str(entry.get("date")))
    roles = [
        words
        for key, words in (
            ("commissioner", "appoints a commissioner"),
            ("independent_chair", "names an independent chair"),
        )
        if entry.get(key)
    ]
    return f"{kind} of {when:%-d %B %Y}" + (f" ({'; '.join(roles)})" if roles else "")
