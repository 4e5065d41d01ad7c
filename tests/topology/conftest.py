"""The compose topology as native processes (tests/topology/stack.py), once per executor.

``topology`` is a session fixture parametrised by executor: pytest runs every test of the
LocalExecutor topology, stops it, then starts the CeleryExecutor one, so the two never run at
once on a small machine. A test for one executor only asks for it with
``@pytest.mark.parametrize("topology", [CELERY], indirect=True)``. Every test here is marked
``topology`` (``./test.sh --fast`` runs tests/unit only, so they are skipped there).

Needs: Debian's PostgreSQL (the tier runs a server of its own, which the fault tests stop;
without STATCLOCK_TEST_POSTGRES_URL it skips like every PostgreSQL test) and, for Celery,
Debian's redis-server (scripts/topology-deps.sh, called by ./test.sh: without it the Celery
tests fail, saying so).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology.postgres import Cluster, private_cluster
from tests.topology.stack import CELERY, LOCAL, Topology, started

HERE = Path(__file__).resolve().parent


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # ./test.sh runs this tier in the background and stops it with SIGTERM when the rest of the
    # suite is interrupted: taken as Ctrl-C, every fixture's finally still stops its processes
    # (each in a session of its own, which nothing else would stop) and its PostgreSQL server.
    signal.signal(signal.SIGTERM, _interrupted)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.topology)


# What a council's IT team may set (docs/deployment.md), scaled down so that a fault costs the
# tests seconds rather than the minutes it is allowed in production: a task whose process died is
# noticed after 30 s without a heartbeat (production: 300 s), a dead scheduler's tasks are
# adopted or reset within 15 s, and a failed task is retried after 20-40 s, then at most every
# 60 s, 12 times: 11 minutes in all, so a relay that refuses for 5 minutes is outlasted.
FAULT_TOLERANT = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
    "STATCLOCK_TASK_RETRIES": "12",
    "STATCLOCK_RETRY_DELAY_SECONDS": "20",
    "STATCLOCK_MAX_RETRY_DELAY_SECONDS": "60",
}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """The topology tier's own PostgreSQL server (tests/topology/postgres.py), which the fault
    tests stop and start; both executors' topologies make their databases on it."""
    if not os.environ.get("STATCLOCK_TEST_POSTGRES_URL"):
        pytest.skip("STATCLOCK_TEST_POSTGRES_URL is not set (scripts/test-postgres.sh)")
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session", params=[LOCAL, CELERY], ids=["local", "celery"])
def topology(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres: Cluster
) -> Iterator[Topology]:
    executor: str = request.param
    if executor == CELERY and shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run scripts/topology-deps.sh (./test.sh does)")
    workdir = tmp_path_factory.mktemp(f"topology-{executor}")
    with started(executor, workdir, FAULT_TOLERANT, postgres.url) as running:
        yield running
        timings = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in running.timings.items())
        print(f"\n{executor} topology started: {timings} (logs in {workdir / 'logs'})")
