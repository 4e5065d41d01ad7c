"""The JSON API against the command line: the same JSON, the documented models, the OpenAPI
schema, and the health check (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from statclock_airflow.ui import api_models, context
from statutory_clock.store import db, register
from tests.ui.test_writes import CROYDON, ROOT, TOWER

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))


@pytest.fixture
def ui_register_url(seed_register_url: str) -> str:
    """These tests use the seed councils as they stood in 2017 (open)."""
    return seed_register_url


def cli_json(url: str, *args: str) -> object:
    assert STATCLOCK
    env = {**os.environ, "STATCLOCK_DATABASE_URL": url}
    as_of = context.today().isoformat()  # the page's day: today in London
    result = subprocess.run(
        [STATCLOCK, *args, "--format", "json", "--as-of", as_of],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_portfolio_is_the_cli_list(client, viewer_cookies, ui_register_url):
    engine = db.make_engine(ui_register_url)
    with db.transaction(engine) as session:
        register.close_case(session, CROYDON, "officer", context.today(), "Re-inspected")
    engine.dispose()
    response = client.get(f"{ROOT}/api/portfolio", cookies=viewer_cookies)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    rows = response.json()
    assert rows == cli_json(ui_register_url, "case", "list")
    assert CROYDON not in {row["key"] for row in rows} and TOWER in {r["key"] for r in rows}
    everything = client.get(f"{ROOT}/api/portfolio?all=true", cookies=viewer_cookies).json()
    assert everything == cli_json(ui_register_url, "case", "list", "--all")
    closed = next(row for row in everything if row["key"] == CROYDON)
    assert closed["state"] == "closed" and closed["closed_reason"] == "closed_by_person"
    for row in everything:  # the documented model describes the CLI's rows exactly
        assert api_models.PortfolioRow.model_validate(row).model_dump(by_alias=True) == row


def test_council_is_the_cli_show(client, viewer_cookies, ui_register_url):
    for key in (TOWER, CROYDON):
        response = client.get(f"{ROOT}/api/councils/{key}", cookies=viewer_cookies)
        assert response.status_code == 200
        shown = response.json()
        assert shown == cli_json(ui_register_url, "case", "show", key)
        assert api_models.Case.model_validate(shown).model_dump(by_alias=True) == shown
        assert shown["milestones"] and shown["version"] >= 1


@pytest.mark.parametrize("key", ["no-such-council", "Croydon", "x" * 300])
def test_unknown_council_is_404_json(client, viewer_cookies, ui_register_url, key):
    response = client.get(f"{ROOT}/api/councils/{key}", cookies=viewer_cookies)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()


def test_models_refuse_a_drifted_row(client, viewer_cookies, ui_register_url):
    from pydantic import ValidationError

    row = client.get(f"{ROOT}/api/portfolio", cookies=viewer_cookies).json()[0]
    with pytest.raises(ValidationError):
        api_models.PortfolioRow.model_validate({**row, "surprise": 1})
    without = dict(row)
    del without["counts"]
    with pytest.raises(ValidationError):
        api_models.PortfolioRow.model_validate(without)


def test_openapi_documents_the_api(client, ui_register_url):
    schema = client.get(f"{ROOT}/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/portfolio", "/api/councils/{key}", "/health"):
        assert path in paths, sorted(paths)
        assert paths[path]["get"]["summary"] and paths[path]["get"]["description"]
    portfolio = paths["/api/portfolio"]["get"]
    assert portfolio["responses"]["200"]["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/PortfolioRow"
    }
    assert {"401", "403"} <= set(portfolio["responses"])
    assert "404" in paths["/api/councils/{key}"]["get"]["responses"]
    components = schema["components"]["schemas"]
    assert set(components["PortfolioRow"]["properties"]) == set(
        api_models.PortfolioRow.model_fields
    )
    assert "register" in components["Health"]["properties"]
    for form in ("event", "action", "adjustment"):
        assert f"/councils/{{key}}/{form}" in paths


def test_health(client, ui_register_url):
    response = client.get(f"{ROOT}/health")  # no token
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "register": "ok"}


def test_health_when_the_register_is_unreachable(airflow_app, monkeypatch):
    from fastapi.testclient import TestClient

    secret = "s3cret-pw"
    monkeypatch.setenv(
        "STATCLOCK_DATABASE_URL",
        f"postgresql+psycopg://someone:{secret}@127.0.0.1:1/statclock?connect_timeout=2",
    )
    context.engine.cache_clear()
    try:
        response = TestClient(airflow_app).get(f"{ROOT}/health")
    finally:
        context.engine.cache_clear()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "register": "unreachable"}
    for detail in (secret, "someone", "127.0.0.1", "psycopg"):
        assert detail not in response.text
