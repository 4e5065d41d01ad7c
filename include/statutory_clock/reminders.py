"""Who is told what, and when: reminder decisions and the messages themselves.

Pure: no database, no network, no clock. :mod:`statutory_clock.store.outbox` applies these
decisions to the register's reminder ledger, which is what makes sending exactly-once.

A reminder's *kind* is the step of the lead-time policy that made it due: ``before_20``,
``before_5``, ``due_today``, ``overdue_1`` ... (working days). On any day, only the most recent
step whose trigger date has passed is relevant; earlier steps that were never sent (a missed
run, the SMTP server down for a day) are superseded, not sent in a burst.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from statutory_clock.addresses import council_page
from statutory_clock.calendar import WorkingDayCalendar
from statutory_clock.council_names import short_council_name
from statutory_clock.dates import long_date, written_dates
from statutory_clock.email_layout import (
    Block,
    Divider,
    Heading,
    Inset,
    Link,
    Paragraph,
    SummaryList,
    SummaryRow,
    clean,
    render,
    set_body,
)
from statutory_clock.mail_headers import header_text, safe_filename, sealed, start_message

CHANGED = "deadline_changed"
# A subject line is shorter than this, always: Outlook's inbox list and a phone's lock screen
# show about 60-80 characters. Of it, a council's short name gets at most SUBJECT_COUNCIL.
MAX_SUBJECT_LINE = 79
SUBJECT_COUNCIL = 24


class PolicyError(ValueError):
    """The reminder policy file is invalid; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class LeadTimes:
    before: tuple[int, ...] = (20, 10, 5, 1)
    on_due: bool = True
    overdue: tuple[int, ...] = (1, 5)
    escalate_from: int | None = 5
    # Overdue items are not chased beyond this many working days: by then the escalation has
    # gone out and the item is on every board pack; reminding forever would be noise.
    stop_after: int = 20

    def steps(self) -> list[tuple[str, int]]:
        """(kind, offset in working days from the due date), in trigger order."""
        steps = [(f"before_{n}", -n) for n in sorted(set(self.before), reverse=True)]
        if self.on_due:
            steps.append(("due_today", 0))
        steps += [(f"overdue_{n}", n) for n in sorted(set(self.overdue))]
        return steps


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    default: LeadTimes
    rules: Mapping[str, LeadTimes]
    actions: LeadTimes

    def for_rule(self, rule_ref: str) -> LeadTimes:
        return self.rules.get(rule_ref.split(".", 1)[-1], self.default)


_KEYS = {"before", "on_due", "overdue", "escalate_from", "stop_after"}


def _lead_times(raw: Any, base: LeadTimes, where: str) -> LeadTimes:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: expected a mapping of {sorted(_KEYS)}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {
        "before": base.before,
        "on_due": base.on_due,
        "overdue": base.overdue,
        "escalate_from": base.escalate_from,
        "stop_after": base.stop_after,
    }
    for key in ("before", "overdue"):
        if key in raw:
            days = raw[key]
            if not isinstance(days, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in days
            ):
                raise PolicyError(f"{where}.{key}: {days!r} is not a list of working days >= 1")
            values[key] = tuple(days)
    if "on_due" in raw:
        if not isinstance(raw["on_due"], bool):
            raise PolicyError(f"{where}.on_due: {raw['on_due']!r} is not true or false")
        values["on_due"] = raw["on_due"]
    for key in ("escalate_from", "stop_after"):
        if key in raw:
            value = raw[key]
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PolicyError(f"{where}.{key}: {value!r} is not a number of working days")
            values[key] = value
    return LeadTimes(**values)


def parse_policy(raw: Any, source: str) -> ReminderPolicy:
    if not isinstance(raw, Mapping) or "default" not in raw:
        raise PolicyError(f"{source}: expected a mapping with 'default'")
    default = _lead_times(raw["default"], LeadTimes(), f"{source}: default")
    rules = {
        str(rule): _lead_times(spec, default, f"{source}: rules.{rule}")
        for rule, spec in (raw.get("rules") or {}).items()
    }
    actions = _lead_times(raw.get("actions") or {}, default, f"{source}: actions")
    return ReminderPolicy(default=default, rules=rules, actions=actions)


@cache
def load_policy(path: str | None = None) -> ReminderPolicy:
    """The lead-time policy: ``rules/reminders.yaml``, or the file at ``path``."""
    if path:
        text, source = Path(path).read_text(encoding="utf-8"), path
    else:
        resource = resources.files("statutory_clock.rules").joinpath("reminders.yaml")
        text, source = resource.read_text("utf-8"), "rules/reminders.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML ({exc.__class__.__name__})") from None
    return parse_policy(raw, source)


# -- items and decisions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderItem:
    """Something with a deadline that someone must be told about."""

    item: str  # ledger key: "milestone:<id>" or "action:<row number>"
    case_key: str
    authority: str
    title: str
    due: date  # after any agreed extension
    due_version: int
    needed: str  # what has to be done, in a sentence
    basis: str | None  # e.g. "70 working days after 2017-09-04 (publication)"
    source: str | None  # the legal or regulatory citation
    rule: str | None
    confidence: str | None
    owner: str | None
    owner_email: str | None
    escalation_email: str | None
    done: bool  # happened, waived or complete: nothing more to say
    # The last working day on or before ``due``: when the due date is a weekend or a bank
    # holiday the council acts by the working day before, and the lead times count from it.
    act_by: date | None = None
    # A few words for the subject line: the rule's ``short_label`` from the rulebook (e.g.
    # "Written statement of action"); None to use the title.
    label: str | None = None
    escalation: str | None = None  # the escalation contact's name, if the owner has one

    @property
    def acts_by(self) -> date:
        """The day the reminders count to: ``act_by``, or ``due`` if none was given."""
        return self.act_by or self.due


@dataclass(frozen=True, slots=True)
class Reminder:
    item: ReminderItem
    kind: str
    recipients: tuple[str, ...]
    working_days: int  # > 0: working days left; 0: due today; < 0: working days overdue
    previous_due: date | None = None  # for "deadline changed" notices


def relevant_step(
    due: date, as_of: date, times: LeadTimes, calendar: WorkingDayCalendar
) -> tuple[str, int] | None:
    """The most recent policy step whose trigger date is on or before ``as_of``, if any."""
    latest: tuple[str, int] | None = None
    for kind, offset in times.steps():
        trigger = calendar.add_working_days(due, offset) if offset else due
        if trigger <= as_of:
            latest = (kind, offset)
        else:
            break
    return latest


def working_days_to(due: date, as_of: date, calendar: WorkingDayCalendar) -> int:
    if due >= as_of:
        return calendar.working_days_between(as_of, due)
    return -calendar.working_days_between(due, as_of)


def decide(
    item: ReminderItem,
    as_of: date,
    times: LeadTimes,
    calendar: WorkingDayCalendar,
    sent: Iterable[tuple[str, int]],
    programme_manager: str,
    previous_due: date | None = None,
) -> list[Reminder]:
    """The reminders to send for ``item`` on ``as_of``, given the ledger's (kind, version)s.

    At most one lead-time reminder (the most relevant step not yet in the ledger for this
    due-date version) and, if people were told about an earlier version of the date, one
    "deadline changed" notice for this version.
    """
    if item.done:
        return []
    sent = set(sent)
    owner: tuple[str, ...] = (item.owner_email or programme_manager,)
    out: list[Reminder] = []
    days = working_days_to(item.due, as_of, calendar)
    told_before = any(version != item.due_version for _, version in sent)
    if told_before and (CHANGED, item.due_version) not in sent:
        out.append(Reminder(item, CHANGED, owner, days, previous_due))
    step = relevant_step(item.acts_by, as_of, times, calendar)
    if step is None or (step[0], item.due_version) in sent:
        return out
    kind, offset = step
    if days < -times.stop_after:
        return out
    recipients = owner
    if offset > 0 and times.escalate_from is not None and offset >= times.escalate_from:
        escalation = item.escalation_email or programme_manager
        if escalation not in recipients:
            recipients = (*recipients, escalation)
    out.append(Reminder(item, kind, recipients, days))
    return out


# -- messages ------------------------------------------------------------------------------


def _when(reminder: Reminder) -> str:
    days = reminder.working_days
    if days > 0:
        return f"due in {days} working day{'s' if days != 1 else ''}"
    if days == 0:
        return "due today"
    return f"overdue by {-days} working day{'s' if days != -1 else ''}"


def when_words(reminder: Reminder) -> str:
    """What a subject and a heading lead with: "Due in 5 working days", "Due today",
    "Overdue by 1 working day", "Deadline changed"."""
    if reminder.kind == CHANGED:
        return "Deadline changed"
    when = _when(reminder)
    return when[0].upper() + when[1:]


def short_title(item: ReminderItem) -> str:
    """The rule's short label (with the number of a recurring milestone, "Monitoring visit
    (2)"), else the title; one line, visible characters only."""
    title = clean(item.title)
    if not item.label:
        return title
    number = _RECURRENCE.search(title)
    return clean(item.label) + (f" ({number.group(1)})" if number else "")


_RECURRENCE = re.compile(r"\((\d+)\)$")


def _in_sentence(text: str) -> str:
    """Lower-case the first letter after a colon ("Due today: written statement of action"),
    but not an acronym's ("DfE progress review", "ILACS inspection")."""
    word = text.split(" ", 1)[0]
    if len(word) > 1 and word[0].isupper() and word[1:].islower():
        return text[0].lower() + text[1:]
    return text


def subject_for(reminder: Reminder) -> str:
    """The subject line, under :data:`MAX_SUBJECT_LINE` characters whatever the register holds:
    "Due in 5 working days: written statement of action – Croydon".

    The when is never cut; the council's short name and then the title are capped to fit
    (each made safe on its own by ``header_text``), so a very long name cannot push the when
    or the council out of the subject.
    """
    when = when_words(reminder)
    council = header_text(short_council_name(reminder.item.authority), SUBJECT_COUNCIL)
    room = MAX_SUBJECT_LINE - len(when) - len(": ") - len(" – ") - len(council)
    what = header_text(_in_sentence(short_title(reminder.item)), max(room, 1))
    return f"{when}: {what} – {council}"


def _sentence(text: str) -> str:
    text = clean(text).rstrip()
    return text if text.endswith((".", "!", "?", ")", "…")) or not text else text + "."


def _role(item: ReminderItem, recipient: str) -> str:
    if recipient == item.owner_email:
        return "as the owner of this deadline"
    if recipient == item.escalation_email:
        return "as the escalation contact for this deadline"
    return "as the improvement programme manager"


def reminder_blocks(
    reminder: Reminder, recipient: str, base_url: str | None, level: int = 1
) -> list[Block]:
    """What one reminder says, as blocks: the single email's whole body (``level`` 1), or one
    section of a digest (``level`` 2: its heading one level down, and so on)."""
    item = reminder.item
    blocks: list[Block] = [
        Heading(f"{when_words(reminder)}: {short_title(item)}", level),
        Paragraph(f"{item.authority}, case {item.case_key}"),
    ]
    if reminder.kind == CHANGED:
        lines = [f"It was {long_date(reminder.previous_due)}."] if reminder.previous_due else []
        lead = f"Now due {long_date(item.due)}"
    else:
        was = "Was due" if reminder.working_days < 0 else "Due"
        lines, lead = [], f"{was} {long_date(item.due)}"
    if item.acts_by != item.due:
        lines.append(
            f"Act by {long_date(item.acts_by)}: {long_date(item.due)} is not a working day."
        )
    blocks.append(Inset(lead, tuple(lines)))
    section = level + 1
    blocks += [Heading("What is needed", section), Paragraph(_sentence(item.needed))]
    if item.basis:
        blocks += [
            Heading("How the date is worked out", section),
            Paragraph(_sentence(written_dates(item.basis))),
        ]
    if item.source:
        rule = f" (rule {item.rule})" if item.rule else ""
        blocks += [Heading("Legal basis", section), Paragraph(_sentence(f"{item.source}{rule}"))]
    if item.confidence == "unverified":
        blocks.append(
            Paragraph(
                "This timescale is flagged as unverified in the rulebook: confirm it with the "
                "Ofsted lead inspector before relying on it."
            )
        )
    if reminder.working_days < 0 and reminder.kind != CHANGED:
        blocks.append(
            Paragraph(
                "If it has happened, record the date so that the clock and the board pack are "
                f"right: statclock case event {item.case_key} {item.item.split(':')[-1]} "
                "YYYY-MM-DD"
            )
        )
    owner = (item.owner or "The improvement programme manager", item.owner_email or "")
    escalation = (
        (item.escalation or "", item.escalation_email)
        if item.escalation_email
        else ("None named: overdue reminders go to the improvement programme manager",)
    )
    blocks.append(
        SummaryList(
            (
                SummaryRow("Owner", tuple(v for v in owner if v)),
                SummaryRow("Escalation contact", tuple(v for v in escalation if v)),
            )
        )
    )
    if base_url:
        council = short_council_name(item.authority)
        blocks.append(Link(f"Open {council} in statclock", council_page(base_url, item.case_key)))
    return blocks


def _council(reminder: Reminder) -> str:
    return short_council_name(clean(reminder.item.authority))


def _footer(recipient: str, role: str) -> Paragraph:
    return Paragraph(
        f"Sent by statclock to {recipient} {role}. The attached calendar entry keeps Outlook "
        "up to date.",
        small=True,
    )


def compose(
    reminder: Reminder,
    recipient: str,
    sender: str,
    sent_at: datetime,
    message_id: str | None = None,
    base_url: str | None = None,
) -> EmailMessage:
    """One email: plain text and HTML alternatives built from the same blocks
    (:mod:`statutory_clock.email_layout`), with the deadline as an .ics attachment.

    ``base_url`` is where people reach statclock (``addresses.base_url()``, passed in by the
    caller so this stays pure); without it the email has no link to the council's page.
    """
    item = reminder.item
    subject = subject_for(reminder)
    msg = start_message(
        subject=subject,
        sender=sender,
        recipient=recipient,
        sent_at=sent_at,
        message_id=message_id or make_msgid(domain="statclock"),
        extra=[
            ("X-Statclock-Case", item.case_key),
            ("X-Statclock-Item", item.item),
            ("X-Statclock-Reminder", f"{reminder.kind}; due-version {item.due_version}"),
        ],
    )
    blocks = reminder_blocks(reminder, recipient, base_url)
    blocks.append(_footer(recipient, _role(item, recipient)))
    set_body(msg, render(blocks, title=subject, preheader=_preheader(reminder)))
    _attach_ics(msg, item, sent_at)
    return sealed(msg)


def _preheader(reminder: Reminder) -> str:
    return f"{reminder.item.authority}: {long_date(reminder.item.due)}"


def _attach_ics(msg: EmailMessage, item: ReminderItem, sent_at: datetime) -> None:
    msg.add_attachment(
        ics_for(item, sent_at).encode("utf-8"),
        maintype="text",
        subtype="calendar",
        filename=safe_filename(f"{item.case_key}-{item.item.split(':')[-1]}.ics"),
        params={"method": "PUBLISH"},
    )


def _urgency(reminder: Reminder) -> tuple[int, int, str, str]:
    """Most urgent first: changed dates and overdue items, then the soonest due."""
    first = 0 if reminder.kind == CHANGED else 1
    return (first, reminder.working_days, reminder.item.case_key, reminder.item.item)


def digest_subject(count: int, day: date) -> str:
    """ "3 statutory deadlines to act on – Thursday 3 December 2026" (under 80 characters)."""
    return f"{count} statutory deadline{'s' if count != 1 else ''} to act on – {long_date(day)}"


def compose_digest(
    reminders: Sequence[Reminder],
    recipient: str,
    sender: str,
    sent_at: datetime,
    day: date,
    message_id: str,
    base_url: str | None = None,
) -> EmailMessage:
    """One email for a contact who chose a daily digest: every reminder for them decided on
    ``day``, most urgent first, each a section with the same blocks as its single email, and
    each deadline's .ics attached."""
    if not reminders:
        raise ValueError("a digest needs at least one reminder")
    ordered = sorted(reminders, key=_urgency)
    subject = digest_subject(len(ordered), day)
    msg = start_message(
        subject=subject,
        sender=sender,
        recipient=recipient,
        sent_at=sent_at,
        message_id=message_id,
        extra=[("X-Statclock-Digest", f"{len(ordered)} reminders; decided {day.isoformat()}")],
    )
    blocks: list[Block] = [
        Heading(f"{len(ordered)} statutory deadline{'s' if len(ordered) != 1 else ''} to act on"),
        Paragraph(
            f"Your statclock reminders for {long_date(day)}, in one email as you asked, most "
            "urgent first:"
        ),
        SummaryList(
            tuple(
                SummaryRow(
                    when_words(r),
                    (f"{short_title(r.item)} – {short_council_name(r.item.authority)}",),
                )
                for r in ordered
            )
        ),
    ]
    for reminder in ordered:
        blocks.append(Divider())
        blocks += reminder_blocks(reminder, recipient, base_url, level=2)
    blocks += [
        Divider(),
        Paragraph(
            f"Sent by statclock to {recipient}, who chose one email a day for these reminders. "
            "Each deadline's calendar entry is attached and keeps Outlook up to date.",
            small=True,
        ),
    ]
    set_body(msg, render(blocks, title=subject, preheader=f"Reminders for {long_date(day)}"))
    for reminder in ordered:
        _attach_ics(msg, reminder.item, sent_at)
    return sealed(msg)


def ics_for(item: ReminderItem, stamp: datetime) -> str:
    """The deadline as an iCalendar attachment: the same event, UID and SEQUENCE as the
    calendar feeds publish (statutory_clock.ical), so a client holding both keeps one entry."""
    from statutory_clock.ical import calendar, deadline_event

    details = [f"What is needed: {item.needed}"]
    if item.basis:
        details.append(f"Basis: {item.basis}")
    if item.source:
        details.append(f"Source: {item.source}")
    event = deadline_event(
        case_key=item.case_key,
        item=item.item,
        due=item.due,
        # Stable UID, rising SEQUENCE: a calendar client moves the entry when the deadline moves.
        sequence=item.due_version,
        summary=f"{item.authority}: {item.title}",
        description=details,
        stamp=stamp,
    )
    return calendar([event])


def times_for(item: ReminderItem, policy: ReminderPolicy) -> LeadTimes:
    return policy.actions if item.item.startswith("action:") else policy.for_rule(item.rule or "")


def still_relevant(
    item: ReminderItem, as_of: date, policy: ReminderPolicy, calendar: WorkingDayCalendar
) -> set[tuple[str, int]]:
    """The (kind, version)s a pending reminder may still be sent for on ``as_of``: the most
    relevant step for the current due date, and its change notice."""
    if item.done:
        return set()
    relevant = {(CHANGED, item.due_version)}
    step = relevant_step(item.acts_by, as_of, times_for(item, policy), calendar)
    if step is not None:
        relevant.add((step[0], item.due_version))
    return relevant


def decide_all(
    items: Sequence[ReminderItem],
    as_of: date,
    policy: ReminderPolicy,
    calendar: WorkingDayCalendar,
    ledger: Mapping[tuple[str, str], set[tuple[str, int]]],
    previous_due: Mapping[tuple[str, str], date],
    programme_manager: str,
) -> list[Reminder]:
    """Decisions for many items; ``ledger`` maps (case, item) to its (kind, version)s."""
    out: list[Reminder] = []
    for item in items:
        times = (
            policy.actions if item.item.startswith("action:") else policy.for_rule(item.rule or "")
        )
        key = (item.case_key, item.item)
        out += decide(
            item,
            as_of,
            times,
            calendar,
            ledger.get(key, set()),
            programme_manager,
            previous_due.get(key),
        )
    return out
