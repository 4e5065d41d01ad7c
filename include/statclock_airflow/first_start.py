"""Switch the DAGs on only once the services they need answer.

``python -m statclock_airflow.first_start`` (run.sh runs it).

``run.sh`` starts ``airflow standalone`` with every DAG paused (new DAGs are paused at creation,
and DAGs left switched on by an earlier start are paused before it), then runs this. In order:

1. wait for the API server's health (``/api/v2/monitor/health``): every task talks to the
   execution API it serves, so a task started before it answers fails with "Connection
   refused" and waits out a retry delay;
2. log in (the simple auth manager's ``/auth/token``) and wait until the DAG processor has
   parsed every DAG file of the folder, stopping with one line if a file does not import;
3. switch the DAGs on. The scheduler then runs each scheduled DAG once for its most recent slot
   (catch-up is off), so today's clock, reminders and packs go out at once;
4. trigger ``reminders`` and ``board_pack`` for today when they have no run for today and their
   most recent slot is not today (before 07:30, at a weekend or on a bank holiday), so that a
   first start always shows today's reminders and packs, and a restart adds no second pack.

Every request is asked again, until the deadline, when the API server answers 5xx or drops
the connection: on the embedded default (SQLite) a first start's tasks write to Airflow's
database while this switches the DAGs on, and a request that waits out SQLite's 5 s busy timeout
answers 500 ("database is locked") though a second later it would succeed. Asking again never
does a thing twice: switching on is idempotent, and a trigger first looks again for today's run.

The production topology gets the same guarantee from its compose file: the scheduler starts
only when the API server's healthcheck passes (docs/deployment.md). Standard library and httpx
only (no Airflow import): it runs in about a second once the DAGs are parsed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

TODAY_RUNS = ("reminders", "board_pack")  # what a person starting the product expects to see
LONDON = ZoneInfo("Europe/London")
T = TypeVar("T")


class StartError(RuntimeError):
    """One line saying what did not start and where to look."""


class Busy(Exception):
    """The API server answered 5xx: worth asking again a moment later."""


def checked(response: httpx.Response) -> httpx.Response:
    """The response, unless the server failed it (5xx): then :class:`Busy`."""
    if response.status_code >= 500:
        raise Busy(f"HTTP {response.status_code}")
    return response


def patiently(step: Callable[[], T], deadline: float, what: str) -> T:
    """``step()``, asked again while the API server is busy (5xx) or drops the connection,
    until ``deadline``, saying so once; then one line: ``what`` could not be done, the last
    answer and how many tries."""
    delay, tries = 0.5, 0
    while True:
        tries += 1
        try:
            return step()
        except (Busy, httpx.TransportError) as error:
            if time.monotonic() + delay > deadline:
                raise StartError(f"cannot {what}: {error} ({tries} tries)") from None
            if tries == 1:
                print(f"==> Airflow is busy ({error}); asking again to {what}", flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass(frozen=True)
class Started:
    unpaused: tuple[str, ...]
    triggered: tuple[str, ...]  # DAGs run by hand for today (their latest slot was not today)


def wait_for_health(api: str, deadline: float, alive: Callable[[], bool]) -> None:
    while True:
        try:
            if httpx.get(f"{api}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not alive():
            raise StartError("Airflow stopped while starting")
        if time.monotonic() > deadline:
            raise StartError("Airflow's API server did not answer in time")
        time.sleep(0.5)


def read_password(password_file: Path, user: str, deadline: float) -> str:
    """The user's password from the simple auth manager's generated file (written by the API
    server as it starts)."""
    while True:
        try:
            password = json.loads(password_file.read_text(encoding="utf-8")).get(user)
        except (OSError, ValueError):
            password = None
        if isinstance(password, str) and password:
            return password
        if time.monotonic() > deadline:
            raise StartError(f"no password for {user!r} in {password_file}")
        time.sleep(0.5)


def login(api: str, user: str, password: str) -> httpx.Client:
    response = checked(
        httpx.post(f"{api}/auth/token", json={"username": user, "password": password}, timeout=30)
    )
    if response.status_code != 201:
        raise StartError(f"cannot log in to Airflow as {user!r}: HTTP {response.status_code}")
    token = response.json()["access_token"]
    return httpx.Client(
        base_url=f"{api}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def wait_for_dags(client: httpx.Client, dag_ids: Sequence[str], deadline: float) -> None:
    """Until every DAG is parsed; one line naming the file if one does not import."""
    found: set[str] = set()
    while True:
        try:
            listed = checked(client.get("/importErrors")).json()
            errors = listed.get("import_errors", [])
            if errors:
                first = errors[0]
                reason = str(first.get("stack_trace", "")).strip().splitlines()[-1:] or ["?"]
                raise StartError(f"{first.get('filename')} does not import: {reason[0]}")
            dags = checked(client.get("/dags", params={"limit": 100})).json()["dags"]
            found = {d["dag_id"] for d in dags}
            if set(dag_ids) <= found:
                return
        except (Busy, httpx.TransportError):
            pass  # busy: not parsed yet, as far as this can tell
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(set(dag_ids) - found))
            raise StartError(f"Airflow has not parsed these DAGs in time: {missing}")
        time.sleep(0.5)


def _day(instant: object) -> date | None:
    if not isinstance(instant, str):
        return None
    return datetime.fromisoformat(instant).astimezone(LONDON).date()


def covered_today(client: httpx.Client, dag: dict[str, Any], today: date) -> bool:
    """Whether the DAG has a run for today, or the scheduler is about to make one (its next run
    is its most recent slot, catch-up being off). The day a run is for is its data interval's
    end, or when it was asked for if it has none (statclock_airflow.run_as_of)."""
    if _day(dag.get("next_dagrun_data_interval_end") or dag.get("next_dagrun_run_after")) == today:
        return True
    runs = checked(
        client.get(f"/dags/{dag['dag_id']}/dagRuns", params={"order_by": "-run_after", "limit": 5})
    ).json()["dag_runs"]
    return any(_day(r.get("data_interval_end") or r.get("run_after")) == today for r in runs)


def switch_on(
    client: httpx.Client, dag_ids: Sequence[str], today: date, deadline: float
) -> Started:
    unpaused, triggered = [], []
    for dag_id in dag_ids:
        switched, ran = _switch_on_one(client, dag_id, today, deadline)
        if switched:
            unpaused.append(dag_id)
        if ran:
            triggered.append(dag_id)
    return Started(tuple(unpaused), tuple(triggered))


def _switch_on_one(
    client: httpx.Client, dag_id: str, today: date, deadline: float
) -> tuple[bool, bool]:
    """Whether the DAG was switched on, and whether it was run by hand for today."""

    def read() -> dict[str, Any]:
        dag: dict[str, Any] = checked(client.get(f"/dags/{dag_id}")).json()
        return dag

    def unpause() -> None:
        response = checked(client.patch(f"/dags/{dag_id}", json={"is_paused": False}))
        if response.status_code != 200:
            raise StartError(f"cannot switch on {dag_id}: HTTP {response.status_code}")

    def trigger_unless_covered() -> bool:
        # Read again on every try: a trigger whose answer was lost may have made the run.
        if covered_today(client, read(), today):
            return False
        response = checked(
            client.post(
                f"/dags/{dag_id}/dagRuns",
                json={"logical_date": None, "note": "First start: today's run"},
            )
        )
        if response.status_code not in (200, 201):
            raise StartError(f"cannot trigger {dag_id}: HTTP {response.status_code}")
        return True

    switched = bool(patiently(read, deadline, f"read {dag_id}").get("is_paused"))
    if switched:
        patiently(unpause, deadline, f"switch on {dag_id}")
    ran = dag_id in TODAY_RUNS and patiently(trigger_unless_covered, deadline, f"trigger {dag_id}")
    return switched, ran


def dag_ids_in(folder: Path) -> list[str]:
    """The project's DAG ids: one DAG per file, named after it."""
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m statclock_airflow.first_start")
    parser.add_argument("--api", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--dags-folder", type=Path, required=True)
    parser.add_argument("--watch-pid", type=int, help="give up if this process ends")
    parser.add_argument("--timeout", type=float, default=600, help="seconds (default 600)")
    args = parser.parse_args(argv)

    def alive() -> bool:
        if args.watch_pid is None:
            return True
        try:
            os.kill(args.watch_pid, 0)
        except OSError:
            return False
        return True

    deadline = time.monotonic() + args.timeout
    try:
        wait_for_health(args.api, deadline, alive)
        password = read_password(args.password_file, args.user, deadline)
        dag_ids = dag_ids_in(args.dags_folder)
        client = patiently(
            lambda: login(args.api, args.user, password), deadline, "log in to Airflow"
        )
        with client:
            wait_for_dags(client, dag_ids, deadline)
            started = switch_on(client, dag_ids, datetime.now(LONDON).date(), deadline)
    except (StartError, httpx.HTTPError) as error:
        print(f"statclock: the DAGs were not started: {error}", file=sys.stderr)
        return 1
    print(f"==> DAGs switched on: {', '.join(started.unpaused) or 'already on'}")
    if started.triggered:
        print(f"==> Run for today by hand: {', '.join(started.triggered)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
