"""The product started by ``./run.sh`` itself, driven by a real browser.

``./run.sh`` (``airflow standalone`` with SQLite for Airflow and for the case register, the
project's dags/ and plugins/, the demo councils loaded with ``statclock demo load``, the mail
catcher, the DAGs switched on once the API server answers) is started once for the tests/e2e
package (and stopped when its last test is done, so later tiers do not share the machine with it)
with ``STATCLOCK_VAR_DIR`` in a temporary directory and free ports, and stopped at the end by
SIGTERM, as Ctrl-C stops it (its own trap stops every service). The bank-holiday refresh reads
the bundled GOV.UK snapshot from a local HTTP server (no network here). Headless Chromium is
Debian's (/usr/bin/chromium), driven by Playwright; axe-core comes from tests/e2e/node_modules
(``scripts/e2e-deps.sh`` installs both). Every page a test visits is saved as a full-page PNG
under var/screenshots/.

Airflow users with passwords chosen here: ``admin`` (run.sh's own login), ``pm`` (role User:
may record facts) and ``viewer`` (role Viewer: may only read).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port, tail

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("STATCLOCK_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
STARTUP_SECONDS = 420  # a first start migrates Airflow's database: about a minute, more when busy
STOP_SECONDS = 60  # run.sh gives its services 30 s, then kills them
USERS = {"admin": "admin", "pm": "user", "viewer": "viewer"}
BANNER = "statclock is running."
PREFIX = "/statclock"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in tests/e2e is marked ``e2e`` (deselect with ``-m "not e2e"``)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        # A screenshot of each open tab as the failing test left it.
        for name in ("page", "viewer_page", "anonymous_page"):
            tab = getattr(item, "funcargs", {}).get(name)
            if tab is not None:
                with contextlib.suppress(Exception):
                    screenshot(tab, f"FAILED-{item.name}-{name}")
    return report


# -- the product ----------------------------------------------------------------------------------


def _tail(path: Path) -> str:
    return tail(path, 60)


def _stop(run_sh: subprocess.Popen[bytes]) -> None:
    """SIGTERM to run.sh, as Ctrl-C would: its trap stops every service (SIGTERM to each
    process group, SIGKILL 30 s later). Whatever is left of its own group after that is killed."""
    with contextlib.suppress(ProcessLookupError):
        run_sh.send_signal(signal.SIGTERM)
    try:
        run_sh.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run_sh.pid, signal.SIGKILL)
        run_sh.wait(timeout=10)


@contextlib.contextmanager
def _bank_holiday_feed() -> Iterator[str]:
    """The bundled GOV.UK bank-holiday snapshot over local HTTP, for the bank_holidays DAG."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    body = (ROOT / "include" / "statutory_clock" / "data" / "bank-holidays.json").read_bytes()

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/bank-holidays.json"
    finally:
        server.shutdown()


@dataclass
class Product:
    """The running product: where it listens, its environment, and its users' passwords."""

    base_url: str
    env: dict[str, str]
    register_url: str
    passwords: dict[str, str]
    home: Path
    mail_dir: Path
    airflow_log: Path
    run_sh_log: Path
    launched_at: float  # time.time() when ./run.sh was started
    started_at: float  # time.time() when run.sh printed that the product is running
    _tokens: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def token(self, user: str) -> str:
        """A real Airflow JWT for the user, from the simple auth manager's /auth/token."""
        if user not in self._tokens:
            response = httpx.post(
                self.url("/auth/token"),
                json={"username": user, "password": self.passwords[user]},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def statclock(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the ``statclock`` CLI against the same register, as an operator would."""
        return subprocess.run(
            [_bin("statclock"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _bin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed beside {sys.executable} (scripts/setup-venv.sh)"
    return found


def _environment(home: Path, port: int, mail_port: int, feed_url: str) -> dict[str, str]:
    # Nothing of Airflow's or statclock's from this process: in a whole-suite run,
    # tests/ui/conftest.py has set AIRFLOW_HOME, a passwords file, secrets and users for its
    # in-process app; run.sh must start the product with its own.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "STATCLOCK_"))
        and name not in ("AIRFLOW_HOME", "PYTEST_CURRENT_TEST", "VIRTUAL_ENV")
    }
    # This checkout's code first (a git worktree's include/ rather than the one .venv points at).
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "include"), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.update(
        {
            # What run.sh reads: where to write, which ports, which users.
            "STATCLOCK_VAR_DIR": str(home),
            "STATCLOCK_UI_PORT": str(port),
            "STATCLOCK_MAIL_PORT": str(mail_port),
            "STATCLOCK_BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{user}:{role}" for user, role in USERS.items()
            ),
            "AIRFLOW_VAR_STATCLOCK_BANK_HOLIDAYS_URL": feed_url,
            # Light on a two-core machine: one API worker, a few task slots at a time.
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
            "STATCLOCK_CACHE_DIR": str(home / "cache"),
            # The watchdog looks every 5 s rather than every minute: the first-start test waits
            # for its verdict.
            "STATCLOCK_WATCHDOG_POKE_SECONDS": "5",
        }
    )
    return env


def _cli_environment(run_env: dict[str, str], home: Path, port: int) -> dict[str, str]:
    """What run.sh exports, for the ``statclock`` CLI and DAG tests against the same product."""
    return {
        **run_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{run_env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home / "airflow"),
        "STATCLOCK_DATABASE_URL": f"sqlite:///{home / 'statclock.db'}",
        "STATCLOCK_PACKS_DIR": str(home / "packs"),
        "STATCLOCK_PROGRAMME_MANAGER": "programme.manager@localhost",
        "AIRFLOW__API__PORT": str(port),
    }


@pytest.fixture(scope="package")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """The product, started by ./run.sh once for the whole e2e session."""
    home = tmp_path_factory.mktemp("e2e-product")
    airflow_home = home / "airflow"
    airflow_home.mkdir(parents=True)
    port, mail_port = free_port(), free_port()

    # Known passwords: the simple auth manager keeps the file's and generates only missing ones.
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    password_file = airflow_home / "simple_auth_manager_passwords.json.generated"
    password_file.write_text(json.dumps(passwords) + "\n")

    run_sh_log = home / "run.sh.log"
    with _bank_holiday_feed() as feed_url, run_sh_log.open("wb") as out:
        env = _environment(home, port, mail_port, feed_url)
        launched_at = time.time()
        run_sh = subprocess.Popen(
            [str(ROOT / "run.sh")],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while BANNER not in run_sh_log.read_text(errors="replace"):
                if run_sh.poll() is not None:
                    pytest.fail(f"./run.sh exited ({run_sh.returncode}):\n{_tail(run_sh_log)}")
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"./run.sh did not start within {STARTUP_SECONDS} s:\n"
                        f"{_tail(run_sh_log)}\n{_tail(airflow_home / 'standalone.log')}"
                    )
                time.sleep(0.2)
            started_at = time.time()
            base_url = f"http://127.0.0.1:{port}"
            yield Product(
                base_url=base_url,
                env=_cli_environment(env, home, port),
                register_url=f"sqlite:///{home / 'statclock.db'}",
                passwords=passwords,
                home=home,
                mail_dir=home / "mail",
                airflow_log=airflow_home / "standalone.log",
                run_sh_log=run_sh_log,
                launched_at=launched_at,
                started_at=started_at,
            )
        finally:
            _stop(run_sh)


# -- the register, read as the pages read it ------------------------------------------------------


@pytest.fixture(scope="package")
def register(product: Product) -> Iterator[Any]:
    """A SQLAlchemy engine on the product's case register (the same SQLite file)."""
    from statutory_clock.store import db

    engine = db.make_engine(product.register_url)
    yield engine
    engine.dispose()


def today() -> date:
    """The day the pages are as of (today in London)."""
    from statclock_airflow.ui.context import today as pages_today

    return pages_today()


def open_cases(register: Any, *, include_closed: bool = False) -> list[Any]:
    """The portfolio's rows as the read model gives them now (``PortfolioRow``)."""
    from sqlalchemy.orm import Session

    from statutory_clock.store.read_model import portfolio

    with Session(register) as session:
        return portfolio(session, today(), include_closed=include_closed)


def case_view(register: Any, key: str) -> Any:
    """A council's ``CaseView`` as the read model gives it now."""
    from sqlalchemy.orm import Session

    from statutory_clock.store.read_model import case_view as view

    with Session(register) as session:
        return view(session, key, today())


@dataclass(frozen=True)
class Fact:
    """A fact to record on a live council: milestone ``milestone`` happened on ``day``, and the
    rules then move ``dependents`` (milestones computed from its forecast date)."""

    key: str
    authority: str
    milestone: Any  # TimelineEntry
    dependents: tuple[Any, ...]
    day: date


def fact_that_moves_the_clock(register: Any) -> Fact:
    """From the register: an open council's milestone with no actual date yet whose dependants
    are computed from its forecast (so recording it moves them), preferring one still upcoming,
    and a day in the recent past, not its due date, for it to have happened on."""
    from datetime import timedelta

    found: list[tuple[int, Fact]] = []
    for row in open_cases(register):
        view = case_view(register, row.key)
        for entry in view.timeline:
            if entry.actual is not None or entry.waived:
                continue
            dependents = tuple(
                other for other in view.timeline if f"({entry.id}, forecast)" in other.basis
            )
            if not dependents:
                continue
            day = next(
                today() - timedelta(days=n)
                for n in range(3, 30)
                if today() - timedelta(days=n) not in (entry.effective_due, entry.forecast_due)
            )
            rank = 0 if entry.status == "upcoming" else 1
            found.append((rank, Fact(row.key, row.authority, entry, dependents, day)))
            break
    assert found, "no open council in the demo register has a milestone that moves others"
    return min(found, key=lambda pair: pair[0])[1]


# -- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed (requirements-dev.txt: playwright)")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/e2e-deps.sh (apt-get install chromium)")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # Root in a container: Chromium's sandbox needs user namespaces it does not get.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


def _context(browser: Any, product: Product, user: str | None) -> Any:
    context = browser.new_context(
        base_url=product.base_url,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="Europe/London",
    )
    context.set_default_timeout(30_000)
    if user is not None:
        context.add_cookies(
            [
                {
                    "name": "_token",
                    "value": product.token(user),
                    "url": product.base_url + "/",
                }
            ]
        )
    return context


@pytest.fixture
def anonymous_page(browser: Any, product: Product) -> Iterator[Any]:
    """A browser tab with no Airflow session (to log in through the form)."""
    context = _context(browser, product, None)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(browser: Any, product: Product) -> Iterator[Any]:
    """A browser tab logged in as the programme manager (role User)."""
    context = _context(browser, product, "pm")
    yield context.new_page()
    context.close()


@pytest.fixture
def viewer_page(browser: Any, product: Product) -> Iterator[Any]:
    """A browser tab logged in as a read-only Airflow user (role Viewer)."""
    context = _context(browser, product, "viewer")
    yield context.new_page()
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG of what the page shows now, under var/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


def visit(page: Any, path: str, name: str, *, status: int | None = 200) -> Any:
    """Open ``path`` (under the product's base URL), check the HTTP status, save a screenshot."""
    response = page.goto(path, wait_until="load")
    assert response is not None
    if status is not None:
        assert response.status == status, f"GET {path}: {response.status}\n{page.content()[:2000]}"
    screenshot(page, name)
    return response


# -- accessibility --------------------------------------------------------------------------------

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.2 A/AA violations on the page as it stands."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run scripts/e2e-deps.sh (npm ci in tests/e2e)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # A strict Content-Security-Policy may refuse the script tag: then evaluate it below.
        with contextlib.suppress(Exception):
            page.add_script_tag(path=str(AXE_JS))
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern.
        page.evaluate(AXE_JS.read_text() + "\n;true")
    results: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']}: {violation['id']}: {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node.get('target')}: {node.get('failureSummary', '')[:300]}")
    return "\n".join(lines)
