"""What a reminder email says, in both parts: subjects, dates, the link, the people, escaping.

Pure: real messages from ``reminders.compose`` / ``compose_digest``, read back as a mail client
would (the wire bytes parsed again); the HTML is read with the standard library's parser.
"""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

import pytest

from statutory_clock.addresses import council_page
from statutory_clock.council_names import short_council_name
from statutory_clock.dates import written_dates
from statutory_clock.email_layout import (
    Divider,
    Heading,
    Inset,
    Link,
    Paragraph,
    SummaryList,
    SummaryRow,
    clean,
    render,
)
from statutory_clock.reminders import (
    CHANGED,
    Reminder,
    ReminderItem,
    compose,
    compose_digest,
    digest_subject,
    subject_for,
)

AT = datetime(2017, 12, 4, 7, 30, tzinfo=UTC)
BASE = "https://airflow.council.example"
SENDER = "statclock@council.example"
OWNER = "barbara.peacock@croydon.gov.uk"
ESCALATION = "eleanor.brazil@croydon.gov.uk"
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
HOSTILE_TITLES = {
    "plain": "Send the written statement of proposed action to Ofsted (HMCI) and the Secretary "
    "of State, and publish it",
    "very-long": "W" * 5_000,
    "long-words": " ".join(["statement"] * 500),
    "header-injection": "Send it\r\nBcc: attacker@example.com\u202e",
    "encoded-word": "=?utf-8?q?X=0D=0ABcc:_attacker@example.com?=",
    "markup": "<script>alert(1)</script> & <b>bold</b>",
}
HOSTILE_COUNCILS = {
    "london-borough": "London Borough of Croydon",
    "very-long": "Borough " * 1_000,
    "header-injection": "Croydon\r\nReply-To: attacker@example.com",
    "markup": "<img src=x onerror=alert(1)>",
}
# (kind, working days): every step of the lead-time policy, and a changed deadline.
KINDS = [
    ("before_20", 20),
    ("before_5", 5),
    ("before_1", 1),
    ("due_today", 0),
    ("overdue_1", -1),
    ("overdue_20", -20),
    (CHANGED, 3),
]
WHEN = {
    "before_20": "Due in 20 working days: ",
    "before_5": "Due in 5 working days: ",
    "before_1": "Due in 1 working day: ",
    "due_today": "Due today: ",
    "overdue_1": "Overdue by 1 working day: ",
    "overdue_20": "Overdue by 20 working days: ",
    CHANGED: "Deadline changed: ",
}


def item(**changes: object) -> ReminderItem:
    values: dict[str, object] = {
        "item": "milestone:written_statement_of_action",
        "case_key": "croydon-2017",
        "authority": "London Borough of Croydon",
        "title": HOSTILE_TITLES["plain"],
        "due": date(2017, 12, 11),
        "due_version": 1,
        "needed": HOSTILE_TITLES["plain"],
        "basis": "70 working days after 2017-09-04 (publication)",
        "source": "SI 2007/462 reg 3",
        "rule": "ilacs.written_statement_of_action",
        "confidence": "high",
        "owner": "Barbara Peacock",
        "owner_email": OWNER,
        "escalation_email": ESCALATION,
        "done": False,
        "act_by": None,
        "label": "Written statement of action",
        "escalation": "Eleanor Brazil",
    }
    values.update(changes)
    return ReminderItem(**values)  # type: ignore[arg-type]


def wire(message: EmailMessage) -> EmailMessage:
    raw = message.as_bytes(policy=email.policy.SMTP)
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


class _Visible(HTMLParser):
    """The text a reader sees, and the links' addresses."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.hrefs: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        style = dict(attrs).get("style") or ""
        if tag in ("title", "head") or "display: none" in style:
            self._hidden += 1
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        if tag in ("p", "h1", "h2", "h3", "br", "td", "hr"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "head", "span") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.chunks).split())


def parts(message: EmailMessage) -> tuple[str, str, _Visible]:
    back = wire(message)
    text = back.get_body(("plain",)).get_content()
    html = back.get_body(("html",)).get_content()
    visible = _Visible()
    visible.feed(html)
    return text, html, visible


def single(kind: str = "before_5", days: int = 5, **changes: object) -> EmailMessage:
    previous = date(2017, 12, 4) if kind == CHANGED else None
    reminder = Reminder(item(**changes), kind, (OWNER,), days, previous)
    return compose(reminder, OWNER, SENDER, AT, "<r1.a@statclock>", BASE)


# -- subjects ------------------------------------------------------------------------------


@pytest.mark.parametrize("council", HOSTILE_COUNCILS.values(), ids=HOSTILE_COUNCILS.keys())
@pytest.mark.parametrize("title", HOSTILE_TITLES.values(), ids=HOSTILE_TITLES.keys())
@pytest.mark.parametrize(("kind", "days"), KINDS, ids=[k for k, _ in KINDS])
def test_every_subject_is_under_80_characters_and_leads_with_the_when(kind, days, title, council):
    reminder = Reminder(item(title=title, authority=council, label=None), kind, (OWNER,), days)
    subject = subject_for(reminder)
    assert len(subject) < 80, subject
    assert subject.startswith(WHEN[kind]), subject
    assert "\r" not in subject and "\n" not in subject and "=?" not in subject
    on_the_wire = str(wire(compose(reminder, OWNER, SENDER, AT, "<r1.a@statclock>"))["Subject"])
    assert len(on_the_wire) < 80 and on_the_wire.startswith(WHEN[kind]), on_the_wire


def test_the_subject_names_the_rule_and_the_council_shortly():
    reminder = Reminder(item(), "before_5", (OWNER,), 5)
    assert subject_for(reminder) == "Due in 5 working days: written statement of action – Croydon"
    changed = Reminder(item(), CHANGED, (OWNER,), 3, date(2017, 12, 4))
    assert subject_for(changed) == "Deadline changed: written statement of action – Croydon"
    # no short label: the title, capped; an acronym keeps its capitals; a recurrence its number
    plain = Reminder(item(label=None), "due_today", (OWNER,), 0)
    assert subject_for(plain).startswith("Due today: send the written statement of proposed")
    review = item(label="DfE progress review", title="DfE adviser's review (2)")
    assert subject_for(Reminder(review, "overdue_1", (OWNER,), -1)) == (
        "Overdue by 1 working day: DfE progress review (2) – Croydon"
    )


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("London Borough of Croydon", "Croydon"),
        ("Royal Borough of Kensington and Chelsea", "Kensington and Chelsea"),
        ("Exampleshire County Council", "Exampleshire"),
        ("Demoford Metropolitan Borough Council", "Demoford"),
        ("Sampleton City Council", "Sampleton"),
        ("City of York Council", "York"),
        ("Council of the Isles of Scilly", "Isles of Scilly"),
        ("Isle of Wight Council", "Isle of Wight"),
        ("Kingston upon Hull City Council", "Kingston upon Hull"),
        ("Council", "Council"),  # nothing would be left: the name itself
    ],
)
def test_a_council_is_named_as_people_say_it(name, short):
    assert short_council_name(name) == short


def test_the_digest_subject_counts_and_dates():
    subject = digest_subject(3, date(2026, 12, 3))
    assert subject == "3 statutory deadlines to act on – Thursday 3 December 2026"
    assert max(len(digest_subject(n, date(2026, 9, 30))) for n in (2, 99, 10_000)) < 80


# -- the body ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "days"), KINDS, ids=[k for k, _ in KINDS])
def test_both_parts_say_the_same_facts_in_the_same_order_with_written_dates(kind, days):
    text, html, visible = parts(single(kind, days, act_by=date(2017, 12, 8)))
    due = "Monday 11 December 2017"
    facts = [
        "Croydon",
        due,
        "Act by Friday 8 December 2017: Monday 11 December 2017 is not a working day.",
        "Send the written statement of proposed action",
        "70 working days after Monday 4 September 2017 (publication)",
        "SI 2007/462 reg 3 (rule ilacs.written_statement_of_action)",
        "Barbara Peacock",
        OWNER,
        "Eleanor Brazil",
        ESCALATION,
        "Open Croydon in statclock",
    ]
    if kind == CHANGED:
        facts.insert(2, "It was Monday 4 December 2017.")
    shown = " ".join(text.split())
    for body in (shown, visible.text):
        positions = [body.find(fact) for fact in facts]
        assert all(p >= 0 for p in positions), [
            f for f, p in zip(facts, positions, strict=True) if p < 0
        ]
        assert positions == sorted(positions), body
        assert not ISO_DATE.search(body), ISO_DATE.search(body)
    assert not ISO_DATE.search(html)
    link = council_page(BASE, "croydon-2017")
    assert link == f"{BASE}/statclock/councils/croydon-2017"
    assert visible.hrefs == [link] and f"Open Croydon in statclock: {link}" in text


def test_the_due_date_is_the_prominent_line_and_overdue_says_was_due():
    text, _, _ = parts(single())
    assert "| Due Monday 11 December 2017" in text
    assert "| Was due Monday 11 December 2017" in parts(single("overdue_1", -1))[0]
    assert "| Now due Monday 11 December 2017" in parts(single(CHANGED, 3))[0]


def test_without_an_escalation_contact_the_email_says_who_hears_instead():
    text, _, visible = parts(single(escalation=None, escalation_email=None))
    for body in (text, visible.text):
        assert "None named: overdue reminders go to the improvement programme manager" in body


def test_register_values_are_escaped_and_made_one_line():
    message = single(
        title=HOSTILE_TITLES["markup"],
        needed=HOSTILE_TITLES["markup"] + "\r\nBcc: x@example.com",
        authority=HOSTILE_COUNCILS["markup"],
        owner="Pat <b>O'Brien</b>\u202e",
        label=None,
    )
    text, html, visible = parts(message)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script> & <b>bold</b> Bcc: x@example.com" in visible.text
    assert "Pat <b>O'Brien</b>" in text and "\u202e" not in text + html


def test_a_case_key_is_quoted_in_the_link():
    assert council_page(BASE + "/", "a b/c") == f"{BASE}/statclock/councils/a%20b%2Fc"


def test_the_ics_headers_and_message_id_are_kept():
    back = wire(single())
    assert back["Message-ID"] == "<r1.a@statclock>"
    assert back["X-Statclock-Case"] == "croydon-2017"
    assert back["X-Statclock-Reminder"] == "before_5; due-version 1"
    (ics,) = back.iter_attachments()
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_filename() == "croydon-2017-written_statement_of_action.ics"


def test_the_footer_says_why_this_person_got_it():
    reminder = Reminder(item(), "overdue_5", (OWNER, ESCALATION), -5)
    to_owner = parts(compose(reminder, OWNER, SENDER, AT, None, BASE))[0]
    to_escalation = parts(compose(reminder, ESCALATION, SENDER, AT, None, BASE))[0]
    to_manager = parts(compose(reminder, "pm@council.example", SENDER, AT, None, BASE))[0]
    assert "as the owner of this deadline" in to_owner
    assert "as the escalation contact for this deadline" in to_escalation
    assert "as the improvement programme manager" in to_manager


# -- the digest ----------------------------------------------------------------------------


def test_a_digest_has_a_section_per_reminder_most_urgent_first():
    soon = Reminder(item(), "before_5", (OWNER,), 5)
    late = Reminder(
        item(item="action:2", title="Action 2", label=None, due=date(2017, 11, 27), basis=None),
        "overdue_5",
        (OWNER,),
        -5,
    )
    other = Reminder(
        item(case_key="tower-hamlets-2017", authority="London Borough of Tower Hamlets"),
        "due_today",
        (OWNER,),
        0,
    )
    message = compose_digest(
        [soon, late, other], OWNER, SENDER, AT, date(2017, 12, 4), "<d1.a@statclock>", BASE
    )
    back = wire(message)
    assert back["Subject"] == "3 statutory deadlines to act on – Monday 4 December 2017"
    assert back["Message-ID"] == "<d1.a@statclock>"
    assert len(list(back.iter_attachments())) == 3
    text, _, visible = parts(message)
    headings = [
        "Overdue by 5 working days: Action 2",
        "Due today: Written statement of action",
        "Due in 5 working days: Written statement of action",
    ]
    for body in (" ".join(text.split()), visible.text):
        positions = [body.rfind(h) for h in headings]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), body
        assert not ISO_DATE.search(body)
    assert visible.hrefs == [
        council_page(BASE, "croydon-2017"),
        council_page(BASE, "tower-hamlets-2017"),
        council_page(BASE, "croydon-2017"),
    ]


def test_an_empty_digest_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        compose_digest([], OWNER, SENDER, AT, date(2017, 12, 4), "<d1.a@statclock>")


# -- the layout and the dates it is given --------------------------------------------------


def test_the_layout_renders_each_block_in_both_parts():
    rendered = render(
        [
            Heading("Title"),
            Paragraph("A paragraph."),
            Inset("Due Monday 11 December 2017", ("Act by Friday 8 December 2017.",)),
            SummaryList((SummaryRow("Owner", ("Pat", "pat@example.com")),)),
            Link("Open", "https://example.com/x"),
            Divider(),
            Paragraph("Small print.", small=True),
        ],
        title="Subject",
        preheader="Preview",
    )
    assert rendered.text == (
        "Title\n=====\n\nA paragraph.\n\n| Due Monday 11 December 2017\n"
        "| Act by Friday 8 December 2017.\n\nOwner: Pat, pat@example.com\n\n"
        "Open: https://example.com/x\n\n" + "-" * 40 + "\n\nSmall print.\n"
    )
    assert "border-left: 10px solid #b1b4b6" in rendered.html
    assert "max-width: 580px" in rendered.html and "font-size: 19px" in rendered.html
    assert "<style" not in rendered.html and "class=" not in rendered.html
    assert "<img" not in rendered.html and "http://fonts" not in rendered.html


@pytest.mark.parametrize("href", ["javascript:alert(1)", "data:text/html,x", "https://a b", "/x"])
def test_a_link_must_be_an_http_address(href):
    with pytest.raises(ValueError, match="expected an http or https address"):
        render([Link("x", href)], title="x")


def test_clean_makes_one_visible_line_of_capped_length():
    assert clean("a\r\nb\u202e\u200bc\ud800  d") == "a bc d"
    assert clean("x" * 10, limit=5) == "xxxx…"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (
            "70 working days after 2017-09-04 (publication)",
            "70 working days after Monday 4 September 2017 (publication)",
        ),
        (
            "= 2010-08-24, rounded to 2010-08-31",
            "= Tuesday 24 August 2010, rounded to Tuesday 31 August 2010",
        ),
        ("not a date: 2017-02-30", "not a date: 2017-02-30"),
        ("a range 2017-09-04-2017-09-05 is left", "a range 2017-09-04-2017-09-05 is left"),
        ("12017-09-04", "12017-09-04"),
    ],
)
def test_iso_dates_in_basis_lines_are_written_out(text, written):
    assert written_dates(text) == written
