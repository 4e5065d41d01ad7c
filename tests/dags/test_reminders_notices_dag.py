"""The reminders DAG with Slack and Teams connections: real dag.test() runs, a real register,
SMTP server and HTTP endpoint (tests/integration/webhook_sink.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.mailcatcher import MailCatcher
from statutory_clock.store import db
from statutory_clock.store.models import ReminderLedger
from tests.dags.airflow_runner import run_dag_test
from tests.dags.test_dag_runs import MONDAY_4_DEC_2017, env_for, load_demo
from tests.integration.webhook_sink import WebhookSink

SLACK_PATH = "/services/T0000/B0000/XXXXXXXX"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke"
TEAMS_QUERY = "?api-version=2016-06-01&sig=SECRETSIG"
TASKS = {"decide_reminders": "success", "send_reminders": "success", "post_notices": "success"}


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail") as catcher:
        yield catcher


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as server:
        yield server


def channels_env(port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "AIRFLOW_CONN_STATCLOCK_SLACK": json.dumps(
            {"conn_type": "slackwebhook", "password": base + SLACK_PATH}
        ),
        "AIRFLOW_CONN_STATCLOCK_TEAMS": json.dumps(
            {"conn_type": "http", "password": base + TEAMS_PATH + TEAMS_QUERY}
        ),
    }


def chat_states(url: str) -> list[tuple[str, str, str]]:
    engine = db.make_engine(url)
    with db.transaction(engine) as session:
        found = session.execute(
            select(ReminderLedger.item, ReminderLedger.recipient, ReminderLedger.state)
            .where(ReminderLedger.recipient.in_(["slack:statclock_slack", "teams:statclock_teams"]))
            .order_by(ReminderLedger.id)
        ).all()
    engine.dispose()
    return [tuple(row) for row in found]


def test_notices_are_posted_once_whatever_the_reruns(register_url, mail, sink, tmp_path):
    url = load_demo(register_url)
    env = {**env_for(url, mail), **channels_env(sink.port)}
    first = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert first.state == "success", first.tail()
    assert first.tasks == TASKS
    # On 4 December 2017 one deadline of the demo councils is overdue: Tower Hamlets' audits.
    assert first.xcom["post_notices"] == 2
    slack, teams = sink.bodies(SLACK_PATH), sink.bodies(TEAMS_PATH)
    assert len(slack) == len(teams) == 1
    assert slack[0]["text"].startswith("Overdue by 14 working days: Return the case audits")
    card = teams[0]["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["actions"][0]["url"] == (
        "http://localhost:8080/statclock/councils/tower-hamlets-2017"
    )
    emails = len(mail.messages())
    assert emails >= 1

    again = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert again.state == "success", again.tail()
    assert again.xcom == {"decide_reminders": 0, "send_reminders": 0, "post_notices": 0}
    assert len(sink.received) == 2 and len(mail.messages()) == emails
    assert chat_states(url) == [
        ("milestone:monitoring_audits_due_2", "slack:statclock_slack", "sent"),
        ("milestone:monitoring_audits_due_2", "teams:statclock_teams", "sent"),
    ]


def test_endpoint_down_fails_only_the_notices_and_the_retry_posts_them(
    sqlite_register_url, mail, tmp_path
):
    url = load_demo(sqlite_register_url)
    with WebhookSink() as gone:
        port = gone.port  # free now, and nothing listens there
    env = {**env_for(url, mail), **channels_env(port)}
    down = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
    assert down.state == "failed"
    assert down.tasks == {**TASKS, "post_notices": "failed"}  # the emails went out
    output = down.stdout + down.stderr
    assert "could not reach the endpoint (URLError)" in output
    assert "SECRETSIG" not in output
    assert {state for *_, state in chat_states(url)} == {"pending"}

    with WebhookSink(port=port) as back:
        retry = run_dag_test("reminders", env, logical_date=MONDAY_4_DEC_2017, home=tmp_path)
        assert retry.state == "success", retry.tail()
        assert len(back.bodies(SLACK_PATH)) == len(back.bodies(TEAMS_PATH)) == 1
    assert {state for *_, state in chat_states(url)} == {"sent"}


def test_without_connections_the_task_says_so_and_does_nothing(sqlite_register_url, mail, tmp_path):
    url = load_demo(sqlite_register_url)
    run = run_dag_test(
        "reminders", env_for(url, mail), logical_date=MONDAY_4_DEC_2017, home=tmp_path
    )
    assert run.state == "success", run.tail()
    assert run.tasks == TASKS
    assert "post_notices" not in run.xcom  # returned None: nothing configured
    assert "No chat channel: neither the statclock_slack nor the statclock_teams connection" in (
        run.stdout + run.stderr
    )
    assert chat_states(url) == []
