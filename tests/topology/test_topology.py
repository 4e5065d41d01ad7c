"""The production topology works end to end, on the LocalExecutor and on the CeleryExecutor.

Everything goes through what a council's IT team would use: the REST API v2 with a JWT from
the simple auth manager, the register's own CLI, the mail catcher's files. For each executor:
every component is healthy and the API refuses a caller without a token; a fictional council
registered through ``register_inspection`` is in the register; the ``statutory_clock`` run
that the register's asset event triggered succeeded; a ``reminders`` run emails the reminder
due; an ad-hoc ``board_pack`` run archives a PDF and emails it; and every task ran where the
executor sends it: in the scheduler's own process (LocalExecutor) or on the two Celery workers.

These replace what scripts/prove-topology.sh checked by hand (it now runs this file).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import subprocess
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.topology.stack import CELERY, DAGS, VENV_BIN, Topology


@dataclass(frozen=True)
class Registration:
    case_key: str
    authority: str
    run_id: str
    as_of: dt.date


def as_of_and_published() -> tuple[dt.date, dt.date]:
    """The working day a run triggered now is for, and a publication date 29 working days
    before it, so that publish_report falls due on the next working day: a "1 working day
    before" reminder is due on the run's day."""
    from statutory_clock.calendar import default_calendar

    calendar = default_calendar()
    now = dt.datetime.now(ZoneInfo("Europe/London"))
    day = now.date()
    if not (calendar.is_working_day(day) and now.time() >= dt.time(7, 30)):
        day = calendar.add_working_days(day, -1)
    return day, calendar.add_working_days(day, -29)


def judgements(published: dt.date) -> dict[str, Any]:
    """ILACS reports published from 1 April 2026 carry key judgements and no overall one."""
    if published < dt.date(2026, 4, 1):
        return {"overall_judgement": "inadequate", "judgements": {}}
    return {
        "overall_judgement": None,
        "area_help_and_protection": "inadequate",
        "area_children_in_care": "requires_improvement",
        "area_care_leavers": "good",
        "area_leadership": "inadequate",
        "judgements": {},
    }


@pytest.fixture(scope="session")
def registration(topology: Topology) -> Registration:
    """A fictional council registered through ``POST /api/v2/dags/register_inspection/dagRuns``
    (the path the registration form takes too), its run waited for."""
    as_of, published = as_of_and_published()
    stamp = f"{topology.executor[:-8].lower()}-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    key = f"topology-{stamp}"
    authority = f"Topologyshire County Council (fictional, {stamp})"
    run_id = f"topology-register-{stamp}"
    topology.api.trigger(
        "register_inspection",
        run_id,
        {
            "local_authority": authority,
            "dfe_code": "999",
            "framework": "ilacs",
            "published": published.isoformat(),
            "received": None,
            **judgements(published),
            "direction": None,
            "recommendations": [
                "Within three months | Review every child in need plan",
                "Strengthen management oversight",
            ],
            "programme_manager_email": "pm@topologyshire.example",
            "case_key": key,
        },
    )
    topology.api.wait_run("register_inspection", run_id)
    return Registration(key, authority, run_id, as_of)


def mail_about(topology: Topology, fragment: str) -> list[EmailMessage]:
    """The mail catcher's messages whose subject or text mentions ``fragment``."""
    found = []
    for path in sorted(topology.mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain", "html"))
        text = f"{message['Subject']}\n{body.get_content() if body is not None else ''}"
        if fragment in text:
            found.append(message)
    return found


def wait_for_mail(topology: Topology, fragment: str, seconds: float = 30) -> list[EmailMessage]:
    # The run succeeds only after the relay said 250, and the catcher writes before it says
    # 250: this wait is for the rename only, and is normally over at once.
    deadline = time.monotonic() + seconds
    while not (found := mail_about(topology, fragment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def hosts(topology: Topology, dag_id: str, run_id: str) -> dict[str, str]:
    """{task (with map index): the service that ran it} for a run's task instances."""
    return {
        f"{ti['task_id']}[{ti['map_index']}]" if ti["map_index"] >= 0 else ti["task_id"]: str(
            ti["hostname"]
        )
        for ti in topology.api.task_instances(dag_id, run_id)
        if ti["state"] == "success"
    }


def assert_ran_on_executor(topology: Topology, dag_id: str, run_id: str) -> dict[str, str]:
    ran = hosts(topology, dag_id, run_id)
    assert ran, f"no successful task instance in {dag_id} run {run_id}"
    if topology.executor == CELERY:
        expected = {worker.name for worker in topology.workers}
    else:
        expected = {"airflow-scheduler"}
    strays = {task: host for task, host in ran.items() if host not in expected}
    assert not strays, f"{dag_id} tasks ran outside {sorted(expected)}: {strays}"
    return ran


def test_components_healthy_and_api_needs_a_token(topology: Topology) -> None:
    topology.check_alive()
    health = topology.api.json("/api/v2/monitor/health")
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health
    scheduler_port = topology.env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"]
    assert httpx.get(f"http://127.0.0.1:{scheduler_port}/health", timeout=10).status_code == 200

    anonymous = httpx.get(f"{topology.api.base_url}/api/v2/dags", timeout=10)
    assert anonymous.status_code == 401, anonymous.text
    wrong = httpx.post(
        f"{topology.api.base_url}/auth/token",
        json={"username": "admin", "password": topology.password + "x"},
        timeout=10,
    )
    assert wrong.status_code == 401, wrong.text

    dags = {d["dag_id"]: d for d in topology.api.json("/api/v2/dags", limit=100)["dags"]}
    assert set(DAGS) <= set(dags), sorted(dags)
    assert not any(dags[d]["is_paused"] for d in DAGS)
    errors = topology.api.json("/api/v2/importErrors")
    assert errors["total_entries"] == 0, json.dumps(errors)[:2000]


def test_registration_lands_in_the_register(topology: Topology, registration: Registration) -> None:
    shown = subprocess.run(
        [
            str(VENV_BIN / "statclock"),
            "case",
            "show",
            registration.case_key,
            "--database-url",
            topology.register_url,
            "--format",
            "json",
        ],
        env=topology.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert case["authority"] == registration.authority
    assert case["milestones"], "the registered case has no milestones"
    assert_ran_on_executor(topology, "register_inspection", registration.run_id)


def test_clock_runs_from_the_registers_asset_event(
    topology: Topology, registration: Registration
) -> None:
    run = topology.api.wait_asset_run("statutory_clock", "register_inspection", registration.run_id)
    assert run["run_type"] == "asset_triggered"
    assert_ran_on_executor(topology, "statutory_clock", run["dag_run_id"])


def test_reminders_run_emails_the_reminder_due(
    topology: Topology, registration: Registration
) -> None:
    run_id = f"topology-reminders-{registration.case_key}"
    topology.api.trigger("reminders", run_id, {})
    topology.api.wait_run("reminders", run_id)
    ran = assert_ran_on_executor(topology, "reminders", run_id)

    messages = wait_for_mail(topology, registration.authority)
    assert messages, f"no email about {registration.authority} in {topology.mail_dir}"
    subjects = [str(m["Subject"]) for m in messages]
    # Exactly once: one reminder for this council's milestone, however many tasks ran.
    assert len(subjects) == len(set(subjects)), subjects
    print(f"\n{topology.executor}: reminders tasks {ran}; emails: {subjects}")


def test_board_pack_archived_and_emailed(topology: Topology, registration: Registration) -> None:
    run_id = f"topology-pack-{registration.case_key}"
    topology.api.trigger("board_pack", run_id, {"case_key": registration.case_key})
    topology.api.wait_run("board_pack", run_id)
    ran = assert_ran_on_executor(topology, "board_pack", run_id)
    assert "make_pack[0]" in ran and "send_packs" in ran, ran

    pdfs = list(topology.packs_dir.rglob("*.pdf"))
    assert pdfs and all(p.read_bytes().startswith(b"%PDF-") for p in pdfs), pdfs
    packs = [
        m
        for m in wait_for_mail(topology, registration.authority)
        if any(part.get_content_type() == "application/pdf" for part in m.iter_attachments())
    ]
    assert len(packs) == 1, [str(m["Subject"]) for m in packs]
    print(f"\n{topology.executor}: board pack tasks {ran}; email: {packs[0]['Subject']}")


@pytest.mark.parametrize("topology", [pytest.param(CELERY, id="celery")], indirect=True)
def test_celery_tasks_ran_on_the_workers(topology: Topology, registration: Registration) -> None:
    """The tasks reached the workers through Redis (each worker's log counts what it received)
    and every task instance of the product's runs was run by one of them."""
    received = {
        worker.name: worker.log.read_text(errors="replace").count("] received")
        for worker in topology.workers
    }
    assert sum(received.values()) > 0, received
    ran_on = set()
    for dag_id in ("register_inspection", "reminders", "board_pack"):
        runs = topology.api.json(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
        for run in runs:
            ran_on |= set(hosts(topology, dag_id, run["dag_run_id"]).values())
    assert ran_on <= {w.name for w in topology.workers}, ran_on
    print(f"\nCelery: tasks received per worker {received}; task hosts {sorted(ran_on)}")
