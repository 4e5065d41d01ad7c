"""The compose topology as native processes (tests/topology/stack.py), once per executor.

``topology`` is a session fixture parametrised by executor: pytest runs every test of the
LocalExecutor topology, stops it, then starts the CeleryExecutor one, so the two never run at
once on a small machine. A test for one executor only asks for it with
``@pytest.mark.parametrize("topology", [CELERY], indirect=True)``. Every test here is marked
``topology`` (``./test.sh --fast`` runs tests/unit only, so they are skipped there).

Needs: PostgreSQL (STATCLOCK_TEST_POSTGRES_URL, scripts/test-postgres.sh) and, for Celery,
Debian's redis-server (scripts/topology-deps.sh, called by ./test.sh): without PostgreSQL they
skip like every PostgreSQL test; without redis-server the Celery tests fail, saying so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology.stack import CELERY, LOCAL, Topology, started

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.topology)


@pytest.fixture(scope="session", params=[LOCAL, CELERY], ids=["local", "celery"])
def topology(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    executor: str = request.param
    if not os.environ.get("STATCLOCK_TEST_POSTGRES_URL"):
        pytest.skip("STATCLOCK_TEST_POSTGRES_URL is not set (scripts/test-postgres.sh)")
    if executor == CELERY and shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run scripts/topology-deps.sh (./test.sh does)")
    workdir = tmp_path_factory.mktemp(f"topology-{executor}")
    with started(executor, workdir) as running:
        yield running
        timings = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in running.timings.items())
        print(f"\n{executor} topology started: {timings} (logs in {workdir / 'logs'})")
