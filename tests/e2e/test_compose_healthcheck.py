"""The compose file's api-server healthcheck, run for real against the running product.

docker-compose.yml's check is a Python script (Airflow's own monitor/health, then statclock's
readiness with a reader's token). There is no Docker engine here, so the script is taken from
the compose file as written and run against the product ./run.sh started, with the credentials
the container would have: it passes, and fails with a wrong password (a check that cannot fail
is no check).
"""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.e2e.conftest import ROOT, Product


def _healthcheck_script(base_url: str) -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    test = compose["services"]["airflow-api-server"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"], test
    script = str(test[3])
    assert 'base = "http://localhost:8080"' in script
    return script.replace('base = "http://localhost:8080"', f'base = "{base_url}"')


def _run(script: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        env={"STATCLOCK_UI_USER": user, "STATCLOCK_UI_PASSWORD": password, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_healthcheck_passes_on_a_healthy_product(product: Product):
    script = _healthcheck_script(product.base_url)
    passed = _run(script, "admin", product.passwords["admin"])
    assert passed.returncode == 0, passed.stderr[-2000:]

    refused = _run(script, "admin", "not-the-password")
    assert refused.returncode != 0
    assert "HTTP Error 401" in refused.stderr, refused.stderr[-2000:]
