"""Slack and Teams notices through the reminder ledger: real databases, a real HTTP endpoint.

The channels are the product's own posters (the Slack provider's hook, ``requests`` for Teams)
reading real Airflow connections from ``AIRFLOW_CONN_*``, posting to a local HTTP server
(tests/integration/webhook_sink.py) that records what arrives; email goes through the
project's mail catcher. The demo councils give, on Monday 4 December 2017, Tower Hamlets' case
audits 5 working days overdue, and on Tuesday 12 December Croydon's statement of action
1 working day overdue.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from devtools.mailcatcher import MailCatcher
from statutory_clock.chat_notices import WORD_JOINER, EndpointUnavailable
from statutory_clock.reminders import load_policy
from statutory_clock.store import register
from statutory_clock.store.channels import (
    Channel,
    email_rows,
    is_email_recipient,
    is_webhook_recipient,
    webhook_rows,
)
from statutory_clock.store.db import transaction
from statutory_clock.store.delivery import tell_programme_manager
from statutory_clock.store.facts import adjust_milestone
from statutory_clock.store.models import Inspection, ReminderLedger
from statutory_clock.store.notices import failure_notice, plan_notices, post_pending
from statutory_clock.store.outbox import plan_reminders, send_pending
from tests.integration.webhook_sink import WebhookSink, accept
from tests.seeds import seed_as_it_stood

# Airflow reads its home on first import: a throw-away one, as tests/dags/conftest.py does.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="statclock-airflow-notices-"))

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
PM = "programme.manager@council.example"
SENDER = "statclock@council.example"
MON_4_DEC = date(2017, 12, 4)
TUE_12_DEC = date(2017, 12, 12)
WED_13_DEC = date(2017, 12, 13)
SLACK = Channel("slack", "statclock_slack")
TEAMS = Channel("teams", "statclock_teams")
SLACK_PATH = "/services/T0000/B0000/XXXXXXXX"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke"
TEAMS_SECRET = "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=SECRETSIG"


@pytest.fixture
def demo(register_engine: Engine) -> Engine:
    with transaction(register_engine) as session:
        for name in ("croydon-2017", "tower-hamlets-2017"):
            register.import_case(
                session, seed_as_it_stood(DEMO / f"{name}.yaml"), "tester", date(2017, 11, 1)
            )
    return register_engine


def connect(monkeypatch: pytest.MonkeyPatch, sink: WebhookSink, port: int | None = None) -> None:
    """Both channels' Airflow connections, pointing at the sink (or at ``port``)."""
    base = f"http://127.0.0.1:{port or sink.port}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATCLOCK_SLACK",
        json.dumps({"conn_type": "slackwebhook", "password": base + SLACK_PATH}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_STATCLOCK_TEAMS",
        json.dumps({"conn_type": "http", "password": base + TEAMS_PATH + TEAMS_SECRET}),
    )
    monkeypatch.setenv("STATCLOCK_BASE_URL", "https://airflow.council.example")


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as server:
        yield server


def channels() -> tuple[Channel, ...]:
    from statclock_airflow.webhooks import configured_channels

    return configured_channels()


def decide(engine: Engine, day: date) -> tuple[int, int]:
    """The decide task's body: emails, then the channels' notices, in one transaction."""
    found = channels()
    with transaction(engine) as session:
        emails = plan_reminders(session, day, load_policy(), PM)
        notices = plan_notices(session, day, found, load_policy())
    return len(emails), len(notices)


def post(engine: Engine) -> Any:
    from statclock_airflow.webhooks import POSTERS

    found = channels()
    return post_pending(engine, {c.recipient: POSTERS[c.platform](c) for c in found})


def rows(engine: Engine) -> list[ReminderLedger]:
    with transaction(engine) as session:
        found = session.execute(select(ReminderLedger).order_by(ReminderLedger.id)).scalars().all()
        session.expunge_all()
    return list(found)


def chat_rows(engine: Engine) -> list[tuple[str, str, str, str]]:
    return [
        (r.item, r.reminder_kind, r.recipient, r.state)
        for r in rows(engine)
        if is_webhook_recipient(r.recipient)
    ]


def slack_text(body: dict[str, Any]) -> str:
    """Every text a Slack client would show for a message."""
    texts = [body["text"]]
    for block in body["blocks"]:
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(texts)


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card in a Teams Workflows message, checked against the essentials of the
    message and card schema on the way."""
    assert body["type"] == "message"
    assert len(body["attachments"]) == 1
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["body"], "a card needs a body"
    for element in card["body"]:
        assert element["type"] == "RichTextBlock"
        for run in element["inlines"]:
            assert set(run) <= {"type", "text", "weight"} and run["type"] == "TextRun"
            assert isinstance(run["text"], str) and run["text"]
    for action in card["actions"]:
        assert set(action) == {"type", "title", "url"} and action["type"] == "Action.OpenUrl"
    return dict(card)


def card_text(card: dict[str, Any]) -> str:
    return "\n".join("".join(run["text"] for run in element["inlines"]) for element in card["body"])


# -- the happy path, exactly once ------------------------------------------------------------


def test_each_overdue_and_changed_deadline_is_posted_once_to_each_channel(demo, sink, monkeypatch):
    connect(monkeypatch, sink)
    assert channels() == (SLACK, TEAMS)
    for _ in range(2):  # a re-run of the whole day decides and posts nothing new
        assert decide(demo, MON_4_DEC)[1] in (2, 0)
        post(demo)
    slack, teams = sink.bodies(SLACK_PATH), sink.bodies(TEAMS_PATH)
    assert len(slack) == len(teams) == 1

    text = slack_text(slack[0])
    assert slack[0]["text"] == (
        "Overdue by 14 working days: Return the case audits requested for the monitoring "
        "visit (up to six cases) – London Borough of Tower Hamlets. Was due Tuesday "
        "14 November 2017; owner not named in the register; case tower-hamlets-2017."
    )
    assert "*Was due*\nTuesday 14 November 2017" in text
    assert "<https://airflow.council.example/statclock/councils/tower-hamlets-2017|" in text
    assert slack[0]["unfurl_links"] is False
    assert all(
        t.get("verbatim") is True
        for block in slack[0]["blocks"]
        for t in [block.get("text", {}), *block.get("fields", []), *block.get("elements", [])]
        if t
    )

    card = card_of(teams[0])
    assert card_text(card).splitlines() == [
        "Overdue by 14 working days: Return the case audits requested for the monitoring "
        "visit (up to six cases) – London Borough of Tower Hamlets",
        "Was due: Tuesday 14 November 2017",
        "Owner: not named in the register",
        "Case: tower-hamlets-2017",
    ]
    assert card["actions"][0]["url"] == (
        "https://airflow.council.example/statclock/councils/tower-hamlets-2017"
    )
    assert all(r.content_type.startswith("application/json") for r in sink.received)

    # The next working days: Croydon's statement of action goes overdue, then moves.
    assert decide(demo, TUE_12_DEC)[1] == 2
    post(demo)
    with transaction(demo) as session:
        adjust_milestone(
            session,
            "croydon-2017",
            "written_statement_of_action",
            "pm",
            WED_13_DEC,
            "Ofsted agreed one more day",
            "Ofsted",
            extended_to=date(2017, 12, 12),
        )
    for _ in range(2):
        decide(demo, WED_13_DEC)
        post(demo)
    heads = [b["text"].split(" – ")[0] for b in sink.bodies(SLACK_PATH)]
    wsoa = (
        "Send the written statement of proposed action to Ofsted (HMCI) and the Secretary of "
        "State, and publish it"
    )
    assert heads == [
        "Overdue by 14 working days: Return the case audits requested for the monitoring visit "
        "(up to six cases)",
        f"Overdue by 1 working day: {wsoa}",
        f"Deadline changed: {wsoa}",
        f"Overdue by 1 working day: {wsoa}",
    ]
    changed = card_text(card_of(sink.bodies(TEAMS_PATH)[2]))
    assert "Now due: Tuesday 12 December 2017" in changed
    assert "Was due: Monday 11 December 2017" in changed
    assert len(sink.bodies(TEAMS_PATH)) == 4
    assert {state for *_, state in chat_rows(demo)} == {"sent"}
    assert len(chat_rows(demo)) == 8  # four notices, two channels, one row each


def test_no_connection_plans_and_posts_nothing(demo, sink, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_STATCLOCK_SLACK", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_STATCLOCK_TEAMS", raising=False)
    assert channels() == ()
    emails, notices = decide(demo, MON_4_DEC)
    assert emails > 0 and notices == 0
    assert post(demo).sent == 0
    assert chat_rows(demo) == [] and sink.received == []


def test_one_channel_alone(demo, sink, monkeypatch):
    connect(monkeypatch, sink)
    monkeypatch.delenv("AIRFLOW_CONN_STATCLOCK_TEAMS")
    assert channels() == (SLACK,)
    decide(demo, MON_4_DEC)
    assert post(demo).sent == 1
    assert [r.path for r in sink.received] == [SLACK_PATH]


# -- failures --------------------------------------------------------------------------------


def test_endpoint_down_then_up_loses_nothing_and_doubles_nothing(demo, monkeypatch):
    with WebhookSink() as gone:
        port = gone.port  # free once it stops, and nothing listens there
    connect(monkeypatch, gone, port)
    decide(demo, MON_4_DEC)
    with pytest.raises(EndpointUnavailable) as raised:
        post(demo)
    assert "SECRETSIG" not in str(raised.value) and "XXXXXXXX" not in str(raised.value)
    assert {state for *_, state in chat_rows(demo)} == {"pending"}

    with WebhookSink(port=port, respond=accept(503, "busy")) as busy:
        with pytest.raises(EndpointUnavailable, match="HTTP 503 busy"):
            post(demo)
        assert {state for *_, state in chat_rows(demo)} == {"pending"}
        busy.respond = accept(429, "rate_limited")
        with pytest.raises(EndpointUnavailable, match="HTTP 429"):
            post(demo)
    assert {state for *_, state in chat_rows(demo)} == {"pending"}

    with WebhookSink(port=port) as back:  # the endpoint comes back
        decide(demo, TUE_12_DEC)  # the next day: yesterday's notice is still the relevant one
        assert post(demo).sent == 4
        assert post(demo).sent == 0
        assert len(back.bodies(SLACK_PATH)) == len(back.bodies(TEAMS_PATH)) == 2
    assert {state for *_, state in chat_rows(demo)} == {"sent"}


def test_a_refused_payload_fails_its_row_alone_and_the_manager_hears_once(
    demo, sink, monkeypatch, tmp_path
):
    connect(monkeypatch, sink)
    # Slack says 400 to the Tower Hamlets notice only; everything else is accepted.
    sink.respond = lambda body: (
        (400, "invalid_blocks")
        if "Tower Hamlets" in json.dumps(body) and "text" in body
        else (200, "ok")
    )
    decide(demo, MON_4_DEC)
    decide(demo, TUE_12_DEC)
    report = post(demo)
    assert (report.sent, report.failed) == (3, 1)
    failure = report.failures[0]
    assert failure.recipient == "slack:statclock_slack"
    assert failure.reason == (
        "PostRefused: slack:statclock_slack: the endpoint refused the post: HTTP 400 invalid_blocks"
    )
    states = {(item, recipient): state for item, _, recipient, state in chat_rows(demo)}
    assert states[("milestone:monitoring_audits_due_2", "slack:statclock_slack")] == "failed"
    assert list(states.values()).count("failed") == 1

    with MailCatcher(tmp_path / "mail") as mail:
        for attempt in range(2):  # a task retry tries the row again: told once all the same
            again = post(demo) if attempt else report
            with smtplib.SMTP("127.0.0.1", mail.port) as client:
                tell_programme_manager(
                    demo,
                    client.send_message,
                    SENDER,
                    PM,
                    again.failures,
                    "reminders DAG",
                    datetime.now(UTC),
                    compose=failure_notice,
                )
        messages = mail.messages()
    assert [m["Subject"] for m in messages] == [
        "statclock: 1 Slack or Teams notice could not be posted"
    ]
    text = messages[0].get_content()
    assert "slack:statclock_slack" in text and "HTTP 400 invalid_blocks" in text
    assert "SECRETSIG" not in text and "XXXXXXXX" not in text
    (row,) = [r for r in rows(demo) if r.state == "failed"]
    assert row.attempts == 2


# -- hostile data ----------------------------------------------------------------------------


def test_hostile_names_cannot_mention_link_or_break_lines(demo, sink, monkeypatch):
    connect(monkeypatch, sink)
    with transaction(demo) as session:
        case = register.get_case(session, "tower-hamlets-2017")
        case.local_authority.name = (
            "<!channel> @here <https://evil.example|Click> & [x](https://evil.example)"
        )
        audits = next(m for m in case.milestones if m.milestone_id == "monitoring_audits_due_2")
        audits.title = "Audits\n<@U123> @everyone **bold** \u202e"
    decide(demo, MON_4_DEC)
    assert post(demo).sent == 2

    (slack,) = sink.bodies(SLACK_PATH)
    text = slack_text(slack)
    assert "&lt;!channel&gt;" in text and "&lt;@U123&gt;" in text
    assert "&lt;https://evil.example|Click&gt; &amp; [x]" in text
    assert (
        "<!" not in text
        and "<@" not in text
        and "evil.example|" not in text.replace("&lt;https://evil.example|Click&gt;", "")
    )
    # The only real link is ours.
    assert text.count("<https://") == 1
    assert f"@{WORD_JOINER}here" in text and f"@{WORD_JOINER}everyone" in text
    assert "@here" not in text and "@everyone" not in text
    assert "\u202e" not in text and "Audits &lt;@U123&gt;" in text

    card = card_of(sink.bodies(TEAMS_PATH)[0])
    shown = card_text(card)
    assert "<!channel>" in shown  # literal in a TextRun, which has no Markdown
    assert "[x](https://evil.example)" in shown
    assert [a["url"] for a in card["actions"]] == [
        "https://airflow.council.example/statclock/councils/tower-hamlets-2017"
    ]
    assert "\n" not in shown.splitlines()[0] and "\u202e" not in shown


# -- email is untouched by the channels ------------------------------------------------------


def _day_by_day(engine: Engine, mail: MailCatcher, with_channels: bool) -> list[tuple]:
    """Decide, post and send from 4 to 13 December, moving Croydon's deadline on the 13th."""
    from statclock_airflow.webhooks import POSTERS

    days = [MON_4_DEC, date(2017, 12, 5), date(2017, 12, 6), TUE_12_DEC, WED_13_DEC]
    for day in days:
        if day == WED_13_DEC:
            with transaction(engine) as session:
                adjust_milestone(
                    session,
                    "croydon-2017",
                    "written_statement_of_action",
                    "pm",
                    day,
                    "Ofsted agreed one more day",
                    "Ofsted",
                    extended_to=date(2017, 12, 12),
                )
        found = channels() if with_channels else ()
        with transaction(engine) as session:
            plan_reminders(session, day, load_policy(), PM)
            plan_notices(session, day, found, load_policy())
        post_pending(engine, {c.recipient: POSTERS[c.platform](c) for c in found})
        with smtplib.SMTP("127.0.0.1", mail.port) as client:
            send_pending(engine, client.send_message, SENDER)
    return [
        (r.item, r.reminder_kind, r.due_version, r.recipient, r.state, r.decided_on)
        for r in rows(engine)
        if is_email_recipient(r.recipient)
    ]


def test_email_decisions_are_the_same_with_and_without_channels(
    demo, sqlite_template, sink, monkeypatch, tmp_path
):
    from statutory_clock.store import db

    connect(monkeypatch, sink)
    # The control: a second register (SQLite) with the same cases and no channel.
    shutil.copy(sqlite_template, tmp_path / "control.db")
    control = db.make_engine(f"sqlite:///{tmp_path / 'control.db'}")
    with transaction(control) as session:
        for name in ("croydon-2017", "tower-hamlets-2017"):
            register.import_case(
                session, seed_as_it_stood(DEMO / f"{name}.yaml"), "tester", date(2017, 11, 1)
            )
    with MailCatcher(tmp_path / "with") as with_mail, MailCatcher(tmp_path / "without") as bare:
        with_channels = _day_by_day(demo, with_mail, with_channels=True)
        without = _day_by_day(control, bare, with_channels=False)
        subjects = sorted(str(m["Subject"]) for m in with_mail.messages())
        assert subjects == sorted(str(m["Subject"]) for m in bare.messages())
    control.dispose()
    assert with_channels == without
    assert len(subjects) >= 5
    assert any(s.startswith("Deadline changed") for s in subjects)
    assert len(sink.bodies(SLACK_PATH)) == 4  # the channels were really there


def test_the_two_predicates_agree_in_python_and_in_sql(demo):
    recipients = [
        "slack:statclock_slack",
        "teams:statclock_teams",
        "barbara.peacock@croydon.gov.uk",
        "Slack:someone@example.com",
        "slack.team@example.com",
    ]
    with transaction(demo) as session:
        case_id = session.execute(select(Inspection.id)).scalars().first()
        for n, recipient in enumerate(recipients):
            session.add(
                ReminderLedger(
                    inspection_id=case_id,
                    item=f"milestone:m{n}",
                    reminder_kind="overdue_1",
                    due_version=1,
                    due=MON_4_DEC,
                    recipient=recipient,
                    state="sent",
                    decided_on=MON_4_DEC,
                )
            )
    with transaction(demo) as session:
        webhook = set(
            session.execute(select(ReminderLedger.recipient).where(webhook_rows())).scalars()
        )
        email = set(session.execute(select(ReminderLedger.recipient).where(email_rows())).scalars())
    assert webhook == {r for r in recipients if is_webhook_recipient(r)} == set(recipients[:2])
    assert email == {r for r in recipients if is_email_recipient(r)} == set(recipients[2:])
