"""docker-compose.yml's topology as native processes, for the topology tests.

``started(executor, workdir)`` is a context manager that brings up, on free ports and under
``workdir``, the same shape as the compose stack, one process per container:

    PostgreSQL        two fresh databases on the server of ``postgres_url`` (the tier's own,
                      tests/topology/postgres.py; default STATCLOCK_TEST_POSTGRES_URL's):
                      Airflow's metadata, and the case register (migrated by its owner, used by
                      the product as the application's role, as compose does)
    mail catcher      devtools/mailcatcher.py, standing in for Mailpit, behind a relay of the
                      tests' own (tests/topology/relay.py) that the fault tests can make
                      refuse or hold a message mid-send
    redis-server      CeleryExecutor only: the broker (compose profile ``celery``)
    airflow api-server, then, once it answers, airflow scheduler, dag-processor, triggerer
                      and, for CeleryExecutor, two ``airflow celery worker`` processes
                      (broker Redis, result backend Airflow's PostgreSQL database)

and yields a :class:`Topology`: its URLs, a REST API v2 client with a JWT from the simple auth
manager, and the processes (each can be stopped, killed and started again, for the fault
injection tests of issue 15). However the block ends, every process is stopped (SIGTERM to its
process group, SIGKILL 30 s later) and both databases are dropped.

The Airflow settings are those of ``x-airflow-common`` in docker-compose.yml; the differences
are only what one machine needs: free ports instead of container ports, the execution API URL
pointing at the api-server's port, each worker's log server on its own port, and each process's
``hostname`` set to its compose service name (tests/topology/hostname.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.processes import free_port, tail
from tests.topology.relay import Relay

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
WAIT_SECONDS = float(os.environ.get("STATCLOCK_TOPOLOGY_TIMEOUT", "180"))
STOP_SECONDS = 30  # as compose's default stop_grace_period is 10 s, Celery's warm shutdown more
UI_USER = "admin"
LOCAL = "LocalExecutor"
CELERY = "CeleryExecutor"
WORKERS = 2  # airflow-worker scaled to two, as issue 15 asks
DAGS = ("register_inspection", "statutory_clock", "reminders", "board_pack")


# -- processes ------------------------------------------------------------------------------------


@dataclass
class Service:
    """One process of the topology: its compose service's name, its command and environment,
    and its log file. ``start``/``stop``/``kill`` may be called again and again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert not self.alive(), f"{self.name} is already running"
        with self.log.open("ab") as out:
            # A session of its own: signals go to its process group, which takes every child
            # it spawned (LocalExecutor workers, Celery's pool, uvicorn, log servers).
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def group_alive(self) -> bool:
        if self.process is None:
            return False
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie leader still counts as a group member until reaped.
        return self.process.poll() is None or _group_has_live_members(self.process.pid)

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the whole process group and every process descended from it (a task
        process may start a group of its own), as a host losing the container would."""
        if self.process is None:
            return
        doomed = _descendants(self.process.pid)
        self.signal_group(signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.wait_gone(10)

    def wait_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None:
                self.process.poll()
            if not self.group_alive():
                return True
            time.sleep(0.2)
        return not self.group_alive()

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    pgrp: int
    session: int


def _live_processes() -> list[_Proc]:
    """Every live (not zombie) process, from /proc/PID/stat."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command's closing parenthesis: state, ppid, pgrp, session, ...
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                found.append(_Proc(int(entry.name), *(int(f) for f in fields[1:4])))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _descendants(root: int) -> list[int]:
    """Every live process descended from ``root``."""
    children: dict[int, list[int]] = {}
    for proc in _live_processes():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _group_has_live_members(pgid: int) -> bool:
    return any(proc.pgrp == pgid for proc in _live_processes())


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """SIGTERM held off while a block stops what it started: the tier's conftest turns SIGTERM
    into KeyboardInterrupt (./test.sh stops the background tier with it), which must not cut a
    teardown short and leave processes behind."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_all(services: list[Service]) -> None:
    """SIGTERM to each group at once, then SIGKILL to whatever is left after STOP_SECONDS,
    then to anything left in the service's session: a LocalExecutor worker moves to a process
    group of its own, and would outlive the scheduler."""
    for service in services:
        service.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for service in services:
        if not service.wait_gone(max(0.0, deadline - time.monotonic())):
            service.signal_group(signal.SIGKILL)
            service.wait_gone(10)
        if service.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(5)
            for pid in _session_members(service.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _session_members(sid: int) -> list[int]:
    """The live processes of session ``sid`` (each service starts one of its own)."""
    return [proc.pid for proc in _live_processes() if proc.session == sid]


# -- the REST API v2 ------------------------------------------------------------------------------


class RunFailed(AssertionError):
    """A DAG run ended failed, or did not end in time; the message names its failed tasks."""


@dataclass
class Api:
    """REST API v2 with a JWT from the simple auth manager's ``POST /auth/token``."""

    base_url: str
    token: str = ""
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def login(self, username: str, password: str) -> str:
        answer = self.client.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}
        )
        assert answer.status_code == 201, f"POST /auth/token: {answer.status_code} {answer.text}"
        self.token = str(answer.json()["access_token"])
        return self.token

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(f"{self.base_url}{path}", params=params, headers=self._headers())

    def json(self, path: str, **params: Any) -> Any:
        answer = self.get(path, **params)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text[:500]}"
        return answer.json()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.post(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns",
            headers=self._headers(),
            json={
                "dag_run_id": run_id,
                "logical_date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "conf": conf,
            },
        )
        assert answer.status_code == 200, (
            f"POST /api/v2/dags/{dag_id}/dagRuns: {answer.status_code} {answer.text[:500]}"
        )
        body: dict[str, Any] = answer.json()
        return body

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        body = self.json(f"{self.run_path(dag_id, run_id)}/taskInstances", limit=100)
        found: list[dict[str, Any]] = body["task_instances"]
        return found

    def describe_failures(self, dag_id: str, run_id: str) -> str:
        lines = []
        for ti in self.task_instances(dag_id, run_id):
            lines.append(
                f"  {ti['task_id']}[{ti.get('map_index')}]: {ti['state']} "
                f"(try {ti.get('try_number')}, host {ti.get('hostname')})"
            )
            if ti["state"] in ("failed", "up_for_retry") and ti.get("try_number"):
                index = ti.get("map_index", -1)
                log = self.get(
                    f"{self.run_path(dag_id, run_id)}/taskInstances/{ti['task_id']}/logs/"
                    f"{ti['try_number']}",
                    map_index=index,
                )
                lines.append(f"    log: {log.text[-2500:]}")
        return "\n".join(lines)

    def wait_run(self, dag_id: str, run_id: str, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
        """Wait for the run to succeed; RunFailed (with its task states) if it fails or hangs."""
        deadline = time.monotonic() + seconds
        state = "not found"
        while time.monotonic() < deadline:
            answer = self.get(self.run_path(dag_id, run_id))
            if answer.status_code == 200:
                run: dict[str, Any] = answer.json()
                state = run["state"]
                if state == "success":
                    return run
                if state == "failed":
                    raise RunFailed(
                        f"{dag_id} run {run_id} failed:\n{self.describe_failures(dag_id, run_id)}"
                    )
            time.sleep(1)
        raise RunFailed(
            f"{dag_id} run {run_id} not finished within {seconds:.0f} s (state {state}):\n"
            f"{self.describe_failures(dag_id, run_id)}"
        )

    def wait_asset_run(
        self, dag_id: str, source_dag_id: str, source_run_id: str, seconds: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        """The ``asset_triggered`` run of ``dag_id`` caused by an asset event of the source run,
        once it has succeeded."""
        deadline = time.monotonic() + seconds
        seen = "no asset_triggered run from it yet"
        while time.monotonic() < deadline:
            runs = self.json(
                f"/api/v2/dags/{dag_id}/dagRuns", run_type="asset_triggered", limit=100
            )
            for run in runs["dag_runs"]:
                events = self.json(
                    f"{self.run_path(dag_id, run['dag_run_id'])}/upstreamAssetEvents"
                )["asset_events"]
                sources = {(e.get("source_dag_id"), e.get("source_run_id")) for e in events}
                if (source_dag_id, source_run_id) not in sources:
                    continue
                seen = f"{run['dag_run_id']} is {run['state']}"
                if run["state"] == "success":
                    found: dict[str, Any] = run
                    return found
                if run["state"] == "failed":
                    raise RunFailed(
                        f"{dag_id} run {run['dag_run_id']} failed:\n"
                        f"{self.describe_failures(dag_id, run['dag_run_id'])}"
                    )
            time.sleep(1)
        raise RunFailed(f"no successful asset_triggered {dag_id} run from {source_run_id}: {seen}")


# -- the topology ---------------------------------------------------------------------------------


@dataclass
class Topology:
    executor: str
    workdir: Path
    api: Api
    password: str
    airflow_db_url: str
    register_url: str  # as the application's role, as every Airflow process uses it
    register_owner_url: str
    mail_dir: Path
    relay: Relay  # between the product and the catcher (tests/topology/relay.py)
    packs_dir: Path
    services: dict[str, Service]
    env: dict[str, str]  # the Airflow processes' environment (for CLI calls in tests)
    timings: dict[str, float]

    @property
    def workers(self) -> list[Service]:
        return [s for name, s in self.services.items() if name.startswith("airflow-worker-")]

    def check_alive(self) -> None:
        dead = [s for s in self.services.values() if not s.alive()]
        assert not dead, "\n".join(
            f"{s.name} exited ({s.process.returncode if s.process else '?'}):\n{s.tail()}"
            for s in dead
        )

    def restart(self, name: str) -> None:
        """Start a stopped or killed service again, with the same command and environment
        (what is left of its process group first goes, as with a container's restart)."""
        service = self.services[name]
        if service.group_alive():
            service.kill()
        service.start()

    def restart_exited(self) -> list[str]:
        """Start again every Airflow service whose process has exited, as compose's
        ``restart: unless-stopped`` does; the names restarted."""
        exited = [
            name
            for name, service in self.services.items()
            if name.startswith("airflow-") and not service.alive()
        ]
        for name in exited:
            self.restart(name)
        return exited

    def logs(self) -> str:
        return "\n".join(
            f"----- {s.name} ({s.log}) -----\n{s.tail()}" for s in self.services.values()
        )


@contextlib.contextmanager
def _databases(admin_url: str, names: list[str]) -> Iterator[list[str]]:
    """Fresh databases on the server, owned by its role; dropped however the block ends."""
    # pre_ping: the fault tests stop and start the server while this engine waits to drop.
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = make_url(admin_url)
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        from tests.conftest import _drop_database

        for name in names:
            _drop_database(admin, name)
        admin.dispose()


def _register_urls(owner_url: str) -> tuple[str, str]:
    """(application URL, owner URL): migrated by the owner, the application's role granted."""
    from statutory_clock.store import db
    from tests.conftest import _as_app

    app_url = _as_app(owner_url)
    db.upgrade(app_url, owner=owner_url)
    return app_url, owner_url


def _base_env(workdir: Path) -> dict[str, str]:
    # Nothing of the caller's Airflow or statclock settings leaks in: the topology is described
    # entirely below, as the compose file describes it.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "STATCLOCK_", "PYTHONPATH"))
    }
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    # This checkout's code first (the shared .venv's editable install may point elsewhere).
    env["PYTHONPATH"] = f"{ROOT / 'include'}:{ROOT}"
    env["PYTHONUNBUFFERED"] = "1"
    env["TMPDIR"] = str(workdir / "tmp")
    return env


def _wait(what: str, ready: Any, services: list[Service], seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        for service in services:
            assert service.alive(), (
                f"{service.name} exited while waiting for {what}:\n{service.tail()}"
            )
        try:
            last = ready()
        except (httpx.HTTPError, OSError) as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if last is True or (last and not isinstance(last, str)):
                return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready within {seconds:.0f} s (last: {last})")


@contextlib.contextmanager
def started(
    executor: str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    postgres_url: str | None = None,
) -> Iterator[Topology]:
    """The topology, running; ``extra_env`` is added to every Airflow process's environment
    (the fault tests' shorter retry delays, a benchmark's settings). Its databases are made on
    the server of ``postgres_url`` (an owner's URL, default STATCLOCK_TEST_POSTGRES_URL)."""
    assert executor in (LOCAL, CELERY), executor
    admin_url = postgres_url or os.environ.get("STATCLOCK_TEST_POSTGRES_URL")
    assert admin_url, "STATCLOCK_TEST_POSTGRES_URL is not set (scripts/test-postgres.sh)"
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    for sub in ("logs", "mail", "airflow", "run", "tmp", "cache"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    tag = f"{executor[:-8].lower()}_{uuid.uuid4().hex[:8]}"
    services: dict[str, Service] = {}
    relays: list[Relay] = []
    names = [f"statclock_topo_af_{tag}", f"statclock_topo_reg_{tag}"]
    with _databases(admin_url, names) as urls:
        airflow_db_url, register_owner = urls
        try:
            yield _start(
                executor,
                workdir,
                airflow_db_url,
                register_owner,
                services,
                timings,
                t0,
                extra_env or {},
                relays,
            )
        finally:
            with shielded():
                stopping = time.monotonic()
                # The Airflow components first (the scheduler and workers finish their running
                # tasks, which still need the execution API), then the api-server, then the rest.
                airflow_first = [
                    s
                    for n, s in services.items()
                    if n.startswith("airflow-") and n != "airflow-api-server"
                ]
                stop_all(airflow_first)
                stop_all([s for n, s in services.items() if n == "airflow-api-server"])
                stop_all([s for n, s in services.items() if not n.startswith("airflow-")])
                for relay in relays:
                    relay.stop()
                timings["stop"] = time.monotonic() - stopping


def _start(
    executor: str,
    workdir: Path,
    airflow_db_url: str,
    register_owner: str,
    services: dict[str, Service],
    timings: dict[str, float],
    t0: float,
    extra_env: dict[str, str],
    relays: list[Relay],
) -> Topology:
    python = str(VENV_BIN / "python")
    airflow = str(VENV_BIN / "airflow")
    logs = workdir / "logs"
    base = _base_env(workdir)

    def add(name: str, argv: list[str], env: dict[str, str]) -> Service:
        service = Service(name, argv, env, logs / f"{name}.log", workdir / "run")
        services[name] = service
        service.start()
        return service

    def mark(step: str) -> None:
        timings[step] = time.monotonic() - t0 - sum(timings.values())

    register_url, _ = _register_urls(register_owner)
    mark("databases and register migrated")

    # The mail catcher first: its port goes into the SMTP connection every Airflow process reads.
    mail_dir = workdir / "mail"
    catcher = add(
        "mailpit",
        [
            python,
            str(ROOT / "devtools" / "mailcatcher.py"),
            "--dir",
            str(mail_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        base,
    )

    def mail_port() -> int | None:
        for line in catcher.log.read_text(errors="replace").splitlines():
            if line.startswith("Mail catcher listening on "):
                return int(line.split()[4].rstrip(";").rsplit(":", 1)[1])
        return None

    catcher_port = _wait("the mail catcher", mail_port, [catcher], 30)
    # The council's relay in front of it, on the port the SMTP connection names.
    relay = Relay(catcher_port)
    relay.start()
    relays.append(relay)
    smtp_port = relay.port

    broker = ""
    if executor == CELERY:
        redis_port = free_port()
        redis = add(
            "redis",
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir / "run"),
            ],
            base,
        )

        def redis_ping() -> bool:
            with socket.create_connection(("127.0.0.1", redis_port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        _wait("redis-server", redis_ping, [redis], 30)
        broker = f"redis://127.0.0.1:{redis_port}/0"
    mark("mail catcher and broker")

    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    password = secrets.token_urlsafe(18)
    password_file = workdir / "simple_auth_manager_passwords.json"
    password_file.write_text(json.dumps({UI_USER: password}))
    password_file.chmod(0o600)
    packs_dir = workdir / "run" / "var" / "packs"
    from cryptography.fernet import Fernet

    env = dict(base)
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db_url,
            # As in compose: psycopg 3's async dialect, not asyncpg (not among the pins).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db_url.replace(
                "postgresql+psycopg:", "postgresql+psycopg_async:"
            ),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/London",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.topology.hostname.service_hostname",
            # Light on a 2-core machine: one API worker, few task slots.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__CELERY__BROKER_URL": broker or "redis://127.0.0.1:6379/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{airflow_db_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "STATCLOCK_DATABASE_URL": register_url,
            "STATCLOCK_PROGRAMME_MANAGER": "programme.manager@topology.example",
            "STATCLOCK_PACKS_DIR": str(packs_dir),
            "STATCLOCK_BASE_URL": api_url,
            "STATCLOCK_BANK_HOLIDAYS_COPY": str(workdir / "run" / "var" / "bank-holidays.json"),
            "STATCLOCK_CACHE_DIR": str(workdir / "cache"),
            "AIRFLOW_CONN_STATCLOCK_SMTP": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "extra": {
                        "disable_tls": True,
                        "disable_ssl": True,
                        "from_email": "statclock@topology.example",
                    },
                }
            ),
        }
    )
    env.update(extra_env)

    migrate = subprocess.run(
        [airflow, "db", "migrate"], env=env, cwd=workdir / "run", capture_output=True, timeout=600
    )
    assert migrate.returncode == 0, (
        f"airflow db migrate:\n{migrate.stdout[-3000:]!r}{migrate.stderr[-3000:]!r}"
    )
    mark("airflow db migrate")

    def as_service(name: str, **extra: str) -> dict[str, str]:
        return {**env, "STATCLOCK_TOPOLOGY_HOSTNAME": name, **extra}

    # The api-server first, the rest once it answers, as compose's depends_on does: task
    # processes call the execution API as soon as they start.
    api_server = add(
        "airflow-api-server", [airflow, "api-server"], as_service("airflow-api-server")
    )
    api = Api(api_url)
    _wait(
        "the api-server",
        lambda: api.client.get(f"{api_url}/api/v2/version").status_code == 200,
        [catcher, api_server],
    )
    mark("api-server answering")

    add("airflow-scheduler", [airflow, "scheduler"], as_service("airflow-scheduler"))
    add("airflow-dag-processor", [airflow, "dag-processor"], as_service("airflow-dag-processor"))
    add("airflow-triggerer", [airflow, "triggerer"], as_service("airflow-triggerer"))
    if executor == CELERY:
        for number in range(1, WORKERS + 1):
            name = f"airflow-worker-{number}"
            add(
                name,
                [
                    airflow,
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}@%h",
                    "--concurrency",
                    "2",
                ],
                # Two workers on one host: each serves its task logs on its own port.
                as_service(name, AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port())),
            )
    everything = list(services.values())

    def healthy() -> bool | str:
        body = api.client.get(f"{api_url}/api/v2/monitor/health").json()
        states = {k: (v or {}).get("status") for k, v in body.items()}
        wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(states.get(k) == "healthy" for k in wanted) or json.dumps(states)

    _wait("/api/v2/monitor/health: every component healthy", healthy, everything)
    mark("scheduler, dag-processor, triggerer healthy")

    if executor == CELERY:
        _wait("both Celery workers ready", lambda: _workers_ready(services), everything)
        mark("Celery workers ready")

    api.login(UI_USER, password)

    def parsed() -> bool | str:
        waiting = []
        for dag_id in DAGS:
            answer = api.get(f"/api/v2/dags/{dag_id}")
            if answer.status_code != 200 or answer.json().get("is_paused"):
                waiting.append(f"{dag_id} ({answer.status_code})")
        return not waiting or ", ".join(waiting)

    _wait("the DAGs parsed and unpaused", parsed, everything)
    mark("DAGs parsed")
    return Topology(
        executor=executor,
        workdir=workdir,
        api=api,
        password=password,
        airflow_db_url=airflow_db_url,
        register_url=register_url,
        register_owner_url=register_owner,
        mail_dir=mail_dir,
        relay=relay,
        packs_dir=packs_dir,
        services=services,
        env=env,
        timings=timings,
    )


def _workers_ready(services: dict[str, Service]) -> bool:
    """Celery prints "<hostname> ready." once it consumes from the broker."""
    workers = [s for n, s in services.items() if n.startswith("airflow-worker-")]
    return all(" ready." in s.log.read_text(errors="replace") for s in workers)


if __name__ == "__main__":  # a quick manual start: python -m tests.topology.stack CeleryExecutor
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, started(sys.argv[1], Path(tmp)) as topology:
        print(json.dumps(topology.timings, indent=1))
        print(topology.logs())
