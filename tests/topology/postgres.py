"""A PostgreSQL server of the topology's own, so that a fault test can stop it.

The compose stack has one PostgreSQL for Airflow's metadata and the case register; the fault
tests stop it for 30 seconds in the middle of a run. They cannot do that to the test server of
STATCLOCK_TEST_POSTGRES_URL, which every other PostgreSQL test shares, so the topology tier
runs its own: Debian's PostgreSQL binaries, a cluster made with ``initdb`` under the session's
temporary folder, on a free port, with the same roles as scripts/test-postgres.sh makes
(``statclock`` the owner, ``statclock_app`` the application). ``stop`` and ``start`` may be
called again and again; the cluster is stopped and removed however the session ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.processes import free_port
from tests.topology.stack import shielded

ROLES = (
    "CREATE ROLE statclock LOGIN CREATEDB PASSWORD 'statclock'",
    "CREATE ROLE statclock_app LOGIN PASSWORD 'statclock_app'",
    "GRANT statclock_app TO statclock",
    "CREATE DATABASE statclock_test OWNER statclock",
)


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    assert found, f"PostgreSQL's {name} is missing: scripts/test-postgres.sh installs it"
    return str(found[-1])


def _as_owner(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as Debian's postgres user.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Cluster:
    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        """The owner's URL, like STATCLOCK_TEST_POSTGRES_URL's."""
        return f"postgresql+psycopg://statclock:statclock@127.0.0.1:{self.port}/statclock_test"

    def _ctl(self, *args: str) -> None:
        done = subprocess.run(
            _as_owner([_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args]),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        """Fast shutdown: every session is ended, as when the database server is stopped."""
        self._ctl("-m", "fast", "stop")

    def accepting(self) -> bool:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False
        finally:
            engine.dispose()


@contextlib.contextmanager
def private_cluster() -> Iterator[Cluster]:
    # Under /tmp itself: pytest's temporary folders are private to root, and the server runs
    # as postgres.
    parent = Path(tempfile.mkdtemp(prefix="statclock-topology-pg-"))
    data = parent / "pgdata"
    data.mkdir(mode=0o700)
    log = parent / "postgresql.log"
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(parent, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(log, "postgres")
    made = subprocess.run(
        _as_owner([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, f"initdb: {made.stdout}{made.stderr}"
    cluster = Cluster(data, free_port(), log)
    cluster.start()
    try:
        for statement in ROLES:
            psql = [_bin("psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
            done = subprocess.run(
                [*psql, "-qc", statement], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f"{statement}: {done.stderr}"
        yield cluster
    finally:
        with shielded(), contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            cluster.stop()
        shutil.rmtree(parent, ignore_errors=True)


def wait_accepting(cluster: Cluster, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not cluster.accepting():
        assert time.monotonic() < deadline, f"PostgreSQL not back within {seconds:.0f} s"
        time.sleep(0.5)
