"""The case register: SQLAlchemy 2 typed, declarative models.

This is the product's own domain database, separate from Airflow's metadata database. One
"case" is one inspection of one local authority, with everything that follows from it.
Every change goes through :mod:`statutory_clock.store.register`, which writes an
:class:`AuditEvent` row in the same transaction; the audit table is append-only (database
triggers refuse UPDATE and DELETE on it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from statutory_clock.rules import default_rounding


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class LocalAuthority(Base):
    __tablename__ = "local_authority"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    dfe_code: Mapped[str] = mapped_column(String(10), unique=True)

    inspections: Mapped[list[Inspection]] = relationship(back_populates="local_authority")


class Contact(Base):
    """A person with a role in a case: owner of milestones or actions, or an escalation contact.

    Contacts belong to the case (the improvement programme of one inspection), not to the
    authority, because roles change between inspections years apart.
    """

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("inspection_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(50))
    escalation_contact: Mapped[str | None] = mapped_column(String(200))  # a contact's name
    # How reminders reach them (migration 0006): "each" (one email per reminder) or
    # "daily digest" (one email a day listing them all; statutory_clock.store.outbox).
    reminders: Mapped[str] = mapped_column(String(20), default="each")


class Inspection(Base):
    """A case: one inspection report and its statutory clock.

    ``version`` increases with every committed change to the case (optimistic concurrency:
    a writer that read version N and finds N+1 has lost a race and must re-read).
    """

    __tablename__ = "inspection"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    local_authority_id: Mapped[int] = mapped_column(ForeignKey("local_authority.id"))
    framework: Mapped[str] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(Text)
    notified: Mapped[date | None] = mapped_column(Date)
    fieldwork_start: Mapped[date | None] = mapped_column(Date)
    fieldwork_end: Mapped[date | None] = mapped_column(Date)
    published: Mapped[date] = mapped_column(Date)
    # "day", or "month" when a source gives only the month (the date is then the month's last
    # day, and every output says so).
    published_precision: Mapped[str] = mapped_column(String(5), default="day")
    received: Mapped[date | None] = mapped_column(Date)
    judgements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lscb_review: Mapped[str | None] = mapped_column(String(30))
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    # A closed case keeps its history but is never overdue, reminded or packed. Why it closed:
    # "superseded" (a later inspection of the same authority was registered: superseded_by
    # names it), "intervention_lifted", or "closed_by_person" (closed_by says who).
    closed_reason: Mapped[str | None] = mapped_column(String(30))
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_note: Mapped[str | None] = mapped_column(Text)
    superseded_by: Mapped[str | None] = mapped_column(String(100))  # a case key
    # The rulebook's default (recommendations.yaml), for a row made without a case file.
    rounding: Mapped[str] = mapped_column(String(20), default=default_rounding)
    sources: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    local_authority: Mapped[LocalAuthority] = relationship(back_populates="inspections")
    contacts: Mapped[list[Contact]] = relationship(
        order_by="Contact.position", cascade="all, delete-orphan"
    )
    recommendations: Mapped[list[Recommendation]] = relationship(
        order_by="Recommendation.number", cascade="all, delete-orphan"
    )
    actions: Mapped[list[ActionItem]] = relationship(
        order_by="ActionItem.position", cascade="all, delete-orphan"
    )
    events: Mapped[list[CaseEvent]] = relationship(
        order_by="CaseEvent.position", cascade="all, delete-orphan"
    )
    milestones: Mapped[list[MilestoneRecord]] = relationship(
        order_by=lambda: [MilestoneRecord.due, MilestoneRecord.milestone_id],
        cascade="all, delete-orphan",
    )
    intervention: Mapped[Intervention | None] = relationship(cascade="all, delete-orphan")
    board: Mapped[ImprovementBoard | None] = relationship(cascade="all, delete-orphan")


class Recommendation(Base):
    __tablename__ = "recommendation"
    __table_args__ = (UniqueConstraint("inspection_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    timescale: Mapped[str | None] = mapped_column(String(50))
    theme: Mapped[str | None] = mapped_column(String(200))


class ActionItem(Base):
    """A row of the council's action plan (seed 004's appendix)."""

    __tablename__ = "action_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    position: Mapped[int] = mapped_column(Integer)  # 1-based row number in the plan
    recommendation: Mapped[int | None] = mapped_column(Integer)
    current_strategy: Mapped[str | None] = mapped_column(Text)
    required_outcome: Mapped[str | None] = mapped_column(Text)
    lead_officer: Mapped[str | None] = mapped_column(String(300))
    key_tasks: Mapped[str | None] = mapped_column(Text)
    target_date: Mapped[date | None] = mapped_column(Date)
    target_precision: Mapped[str] = mapped_column(String(5), default="day")
    status: Mapped[str | None] = mapped_column(String(10))  # red | amber | green | complete
    smt_lead: Mapped[str | None] = mapped_column(String(300))

    progress: Mapped[list[ProgressNote]] = relationship(
        order_by="ProgressNote.position", cascade="all, delete-orphan"
    )


class ProgressNote(Base):
    __tablename__ = "progress_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_item_id: Mapped[int] = mapped_column(ForeignKey("action_item.id"))
    position: Mapped[int] = mapped_column(Integer)
    date: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text)


class CaseEvent(Base):
    """Something that happened (kind "actual") or is scheduled (kind "planned")."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # actual | planned
    milestone: Mapped[str] = mapped_column(String(100))
    date: Mapped[date | None] = mapped_column(Date)
    precision: Mapped[str] = mapped_column(String(5), default="day")  # day | month
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(200))


class MilestoneRecord(Base):
    """A computed milestone as persisted, with what people decided about it.

    ``due_version`` increases whenever the due date moves: reminders are keyed on it, so a
    moved deadline gets fresh reminders and a "deadline changed" notice, exactly once.
    """

    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("inspection_id", "milestone_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    milestone_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(Text)
    confidence: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    # Whose act the date is: "council" (its statutory duty), "ofsted" or "dfe". A past Ofsted
    # or DfE date with no actual recorded is "not_recorded", never the council's overdue item.
    party: Mapped[str] = mapped_column(String(10), default="council")
    due: Mapped[date] = mapped_column(Date)
    window_start: Mapped[date | None] = mapped_column(Date)
    actual: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    status_as_of: Mapped[date | None] = mapped_column(Date)
    due_version: Mapped[int] = mapped_column(Integer, default=1)
    extended_to: Mapped[date | None] = mapped_column(Date)
    waived: Mapped[bool] = mapped_column(Boolean, default=False)
    adjustment_reason: Mapped[str | None] = mapped_column(Text)
    agreed_by: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))  # a contact's name

    @property
    def effective_due(self) -> date:
        """The due date after any agreed extension."""
        return self.extended_to or self.due


class Intervention(Base):
    __tablename__ = "dfe_intervention"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"), unique=True)
    direction: Mapped[date | None] = mapped_column(Date)
    commissioner: Mapped[str | None] = mapped_column(String(200))
    independent_chair: Mapped[str | None] = mapped_column(String(200))
    adviser: Mapped[str | None] = mapped_column(String(200))
    reviews: Mapped[str | None] = mapped_column(String(30))
    notes: Mapped[str | None] = mapped_column(Text)
    # The typed interventions (migration 0005): [{"kind", "date": "YYYY-MM-DD", "commissioner",
    # "independent_chair", "note"}], in the case file's order.
    interventions: Mapped[list[Any]] = mapped_column(default=list)


class ImprovementBoard(Base):
    __tablename__ = "improvement_board"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    chair: Mapped[str | None] = mapped_column(String(200))
    cadence: Mapped[str | None] = mapped_column(String(20))
    cadence_changes: Mapped[list[Any]] = mapped_column(default=list)
    other_reporting: Mapped[list[Any]] = mapped_column(default=list)
    distribution: Mapped[list[Any]] = mapped_column(default=list)  # board members' emails

    meetings: Mapped[list[BoardMeeting]] = relationship(
        order_by="BoardMeeting.position", cascade="all, delete-orphan"
    )


class BoardMeeting(Base):
    __tablename__ = "board_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("improvement_board.id"))
    position: Mapped[int] = mapped_column(Integer)
    date: Mapped[date] = mapped_column(Date)
    precision: Mapped[str] = mapped_column(String(5), default="day")


class ReminderLedger(Base):
    """Every reminder decided and sent, keyed on what made it due (never on the run date)."""

    __tablename__ = "reminder_ledger"
    __table_args__ = (
        UniqueConstraint("inspection_id", "item", "reminder_kind", "due_version", "recipient"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    item: Mapped[str] = mapped_column(String(150))  # "milestone:<id>" or "action:<position>"
    reminder_kind: Mapped[str] = mapped_column(String(40))
    due_version: Mapped[int] = mapped_column(Integer)
    due: Mapped[date] = mapped_column(Date)
    recipient: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(12))  # pending | sent | superseded | failed
    decided_on: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(300))
    # A message that could not be built or was refused by the relay: the row is marked failed
    # with the reason, the rest of the run goes on, and the next run tries it again.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text)


class BoardPack(Base):
    """An archived board pack: never overwritten; a re-run makes a new version."""

    __tablename__ = "board_pack"
    __table_args__ = (UniqueConstraint("inspection_id", "period_label", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    period_label: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    meeting_date: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    pdf_path: Mapped[str] = mapped_column(Text)
    html_path: Mapped[str] = mapped_column(Text)
    snapshot_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only and hash-chained: who changed what, when, from what to what.

    ``actor`` is the authenticated identity (the Airflow user, or the OS login for the CLI);
    ``on_behalf_of`` is who the actor said they acted for (the CLI's ``--by``). ``hash`` is the
    SHA-256 of the row's fields and ``prev_hash``, the previous row's hash, so a rewritten,
    deleted, reordered or forged row breaks the chain (``statclock audit verify``).
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    on_behalf_of: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    inspection_key: Mapped[str | None] = mapped_column(String(100), index=True)
    entity: Mapped[str] = mapped_column(String(150))
    field: Mapped[str | None] = mapped_column(String(100))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CalendarChange(Base):
    """Bank holidays added or removed after the bundled snapshot (GOV.UK refresh or operator)."""

    __tablename__ = "calendar_change"
    __table_args__ = (UniqueConstraint("division", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    division: Mapped[str] = mapped_column(String(30))
    day: Mapped[date] = mapped_column(Date)
    change: Mapped[str] = mapped_column(String(10))  # added | removed
    title: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RegisterSecret(Base):
    """A random secret made by a migration (0004: ``feed_token``, the key of the calendar
    feeds' tokens). The application's role may read it, never change it."""

    __tablename__ = "register_secret"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class FeedToken(Base):
    """A calendar feed whose token was rotated: ``scope`` is ``portfolio`` or ``case:<key>``.

    The token itself is never stored: it is an HMAC of the scope and ``generation`` under the
    ``feed_token`` secret (statutory_clock.store.feed_tokens). A feed with no row is at
    generation 0; each rotation adds one, and the old address stops working.
    """

    __tablename__ = "feed_token"

    scope: Mapped[str] = mapped_column(String(110), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_by: Mapped[str] = mapped_column(String(200))
