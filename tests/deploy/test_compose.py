"""docker-compose.yml checked by real tools: Debian's docker-compose 1.29.2, the Compose
Specification's JSON schema (vendored: compose-spec.SOURCE.md) and the reference checks of
compose_checks.py, each shown to refuse a broken copy with its own message.

There is no Docker engine here: `docker-compose config` parses, interpolates and validates the
file without one. scripts/compose-deps.sh (called by ./test.sh) installs it; without it those
tests fail, saying so: a check that silently does not run is no check.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.deploy import compose_checks

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
SCHEMA = Path(__file__).with_name("compose-spec.json")
# compose-spec.SOURCE.md names the commit this is the file of.
SCHEMA_SHA256 = "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e"
MONITOR_HEALTH = "http://localhost:8080/api/v2/monitor/health"


@dataclass(frozen=True)
class Compose:
    """docker-compose 1.29.2, run with nothing from the caller's environment: a variable set in
    the shell wins over .env, so a developer's own settings could hide a missing one."""

    binary: str
    home: Path

    def run(
        self, *args: str, env_file: Path, compose_file: Path = COMPOSE_FILE
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                self.binary,
                *("-f", str(compose_file), "--project-directory", str(REPO)),
                *("--env-file", str(env_file), *args),
            ],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@dataclass(frozen=True)
class FilledEnv:
    path: Path
    values: dict[str, str]

    def with_values(self, folder: Path, **changes: str | None) -> Path:
        """A copy with some values changed (None: the line removed)."""
        values = {**self.values, **changes}
        path = folder / "changed.env"
        path.write_text(
            "".join(f"{k}={v}\n" for k, v in values.items() if v is not None), encoding="utf-8"
        )
        return path


def _example() -> list[compose_checks.ExampleVariable]:
    return compose_checks.parse_env_example(ENV_EXAMPLE.read_text(encoding="utf-8"))


def _valid_value(variable: compose_checks.ExampleVariable) -> str:
    """What an operator following .env.example's comments would write for a required value."""
    if variable.name == "AIRFLOW_FERNET_KEY":
        return Fernet.generate_key().decode()
    if variable.name == "STATCLOCK_PROGRAMME_MANAGER":
        return "improvement.programme@testbury.gov.uk"
    return secrets.token_hex(24)


@pytest.fixture(scope="session")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed (scripts/compose-deps.sh installs it)")
    return Compose(binary, tmp_path_factory.mktemp("compose-home"))


@pytest.fixture(scope="session")
def filled_env(tmp_path_factory: pytest.TempPathFactory) -> FilledEnv:
    """Every variable .env.example names, each REQUIRED one filled with a valid value."""
    values = {v.name: (_valid_value(v) if v.marked_required else v.value) for v in _example()}
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return FilledEnv(path, values)


@pytest.fixture(scope="session")
def substituted(compose: Compose, filled_env: FilledEnv) -> dict[str, Any]:
    """The file as `docker-compose config` prints it: anchors merged, variables substituted."""
    result = compose.run("config", env_file=filled_env.path)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


def _schema_errors(schema: dict[str, Any], config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = []
    for error in validator.iter_errors(config):
        leaf = _deepest(error)
        errors.append(f"{'.'.join(str(p) for p in leaf.absolute_path) or '(top)'}: {leaf.message}")
    return errors


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """A oneOf (depends_on: a list or a mapping) says only "not valid under any of the given
    schemas": name the error deepest in the file instead, the one that says what is wrong."""
    candidates = [error, *(_deepest(e) for e in error.context)]
    return max(candidates, key=lambda e: len(e.absolute_path))


# --- docker-compose config ---------------------------------------------------------------------


def test_docker_compose_accepts_the_file_with_a_filled_env(
    compose: Compose, filled_env: FilledEnv
) -> None:
    result = compose.run("config", "-q", env_file=filled_env.path)
    assert result.returncode == 0, result.stderr
    # Not even a warning (an unset variable "defaulting to a blank string", say).
    assert result.stderr == ""


def test_the_filled_values_reach_the_services(
    substituted: dict[str, Any], filled_env: FilledEnv
) -> None:
    services = substituted["services"]
    scheduler = services["airflow-scheduler"]["environment"]
    url = make_url(scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (url.username, url.password, url.host, url.database) == (
        "airflow",
        filled_env.values["AIRFLOW_DB_PASSWORD"],
        "postgres",
        "airflow",
    )
    register = make_url(scheduler["STATCLOCK_DATABASE_URL"])
    assert register.password == filled_env.values["STATCLOCK_DB_PASSWORD"]
    assert scheduler["AIRFLOW__CORE__FERNET_KEY"] == filled_env.values["AIRFLOW_FERNET_KEY"]
    assert scheduler["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    # Only the one-shot init job has the register owner's password.
    owners = [
        n for n, s in services.items() if "STATCLOCK_DATABASE_OWNER_URL" in s.get("environment", {})
    ]
    assert owners == ["airflow-init"]
    assert services["airflow-api-server"]["ports"] == ["127.0.0.1:8080:8080/tcp"]
    assert services["mailpit"]["ports"] == ["127.0.0.1:8025:8025/tcp"]


def test_docker_compose_accepts_the_celery_profile(
    compose: Compose, filled_env: FilledEnv, tmp_path: Path
) -> None:
    env_file = filled_env.with_values(
        tmp_path, COMPOSE_PROFILES="celery", AIRFLOW_EXECUTOR="CeleryExecutor"
    )
    result = compose.run("config", env_file=env_file)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == (
        "CeleryExecutor"
    )
    assert services["airflow-worker"]["environment"]["STACK_EXECUTOR"] == "CeleryExecutor"
    assert set(services["airflow-worker"]["depends_on"]) >= {"redis", "airflow-api-server"}


@dataclass(frozen=True)
class Breakage:
    """A broken copy of the file or of .env, and what docker-compose says about it."""

    id: str
    replace: tuple[str, str] | None
    env: dict[str, str | None]
    message: str


BREAKAGES = [
    Breakage(
        "undefined dependency",
        (
            "      mailpit:\n        condition: service_healthy\n\n  airflow-dag-processor",
            "      mail-relay:\n        condition: service_healthy\n\n  airflow-dag-processor",
        ),
        {},
        "Service 'airflow-scheduler' depends on service 'mail-relay' which is undefined.",
    ),
    Breakage(
        "host port not a number",
        (":${AIRFLOW_PORT:-8080}:8080", ":eighty:8080"),
        {},
        "services.airflow-api-server.ports contains an invalid type",
    ),
    Breakage(
        "required variable missing",
        None,
        {"POSTGRES_PASSWORD": None},
        'in service "postgres": set POSTGRES_PASSWORD in .env (the superuser postgres)',
    ),
    Breakage(
        "required variable empty",
        None,
        {"STATCLOCK_UI_PASSWORD": ""},
        'in service "airflow-api-server": set STATCLOCK_UI_PASSWORD in .env '
        "(the Airflow UI and REST API login)",
    ),
    Breakage(
        "undeclared named volume",
        ("      - mailpit-data:/data\n", "      - mailpit-store:/data\n"),
        {},
        'Named volume "mailpit-store:/data:rw" is used in service "mailpit" but no declaration '
        "was found in the volumes section.",
    ),
    Breakage(
        "missing build context",
        ("  build: .\n", "  build: ./no-such-folder\n"),
        {},
        f"build path {REPO}/no-such-folder either does not exist",
    ),
    Breakage(
        "misspelt option",
        ("    healthcheck:\n      # Over TCP", "    healthchek:\n      # Over TCP"),
        {},
        "Unsupported config option for services.postgres: 'healthchek'",
    ),
    Breakage(
        "unknown depends_on condition",
        ("condition: service_completed_successfully", "condition: service_completed"),
        {},
        'condition contains "service_completed", which is an invalid type',
    ),
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.id)
def test_docker_compose_rejects_a_broken_copy(
    compose: Compose, filled_env: FilledEnv, tmp_path: Path, breakage: Breakage
) -> None:
    compose_file = COMPOSE_FILE
    if breakage.replace:
        old, new = breakage.replace
        text = COMPOSE_FILE.read_text(encoding="utf-8")
        assert old in text, f"the breakage no longer applies to docker-compose.yml: {old!r}"
        compose_file = tmp_path / "docker-compose.yml"
        compose_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    env_file = filled_env.with_values(tmp_path, **breakage.env) if breakage.env else filled_env.path
    result = compose.run("config", "-q", env_file=env_file, compose_file=compose_file)
    assert result.returncode != 0
    assert breakage.message in result.stderr
    assert "Traceback" not in result.stderr


def test_docker_compose_rejects_the_unfilled_example(compose: Compose) -> None:
    result = compose.run("config", "-q", env_file=ENV_EXAMPLE)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


# --- the Compose Specification's schema ----------------------------------------------------------


def test_the_vendored_schema_is_the_version_named() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    source = Path(__file__).with_name("compose-spec.SOURCE.md").read_text(encoding="utf-8")
    assert SCHEMA_SHA256 in source


def test_the_schema_accepts_the_substituted_file(
    schema: dict[str, Any], substituted: dict[str, Any]
) -> None:
    assert _schema_errors(schema, substituted) == []


def test_the_schema_accepts_the_file_as_written(schema: dict[str, Any]) -> None:
    # Before substitution too: `docker-compose config` drops x- extension blocks, so only this
    # sees x-airflow-common as written.
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert _schema_errors(schema, raw) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            _set("services.mailpit.ports", "127.0.0.1:8025:8025"),
            "services.mailpit.ports: '127.0.0.1:8025:8025' is not of type 'array'",
        ),
        (
            _set("services.mailpit.healthchek", {"test": ["CMD", "true"]}),
            "services.mailpit: 'healthchek' does not match any of the regexes: '^x-'",
        ),
        (
            _set("services.airflow-init.depends_on.postgres.condition", "service_ready"),
            "services.airflow-init.depends_on.postgres.condition: 'service_ready' is not one of",
        ),
        (
            _set("volumes.postgres-data", "a string"),
            "volumes.postgres-data: 'a string' is not of type 'object', 'null'",
        ),
    ],
    ids=["ports not a list", "misspelt option", "unknown condition", "volume not a mapping"],
)
def test_the_schema_refuses_a_broken_config(
    schema: dict[str, Any],
    substituted: dict[str, Any],
    change: Callable[[dict[str, Any]], None],
    error: str,
) -> None:
    broken = copy.deepcopy(substituted)
    change(broken)
    errors = _schema_errors(schema, broken)
    assert any(e.startswith(error) for e in errors), errors


# --- reference checks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def test_every_dependency_exists(raw: dict[str, Any]) -> None:
    assert compose_checks.check_depends_on(raw) == []


def test_every_named_volume_is_declared_and_used(raw: dict[str, Any]) -> None:
    assert compose_checks.check_volumes(raw) == []


def test_every_port_is_well_formed_and_published_once(substituted: dict[str, Any]) -> None:
    assert compose_checks.check_ports(substituted) == []


def test_every_restart_policy_is_one_docker_knows(raw: dict[str, Any]) -> None:
    assert compose_checks.check_restart(raw) == []


def test_every_build_context_dockerfile_and_copied_file_exists(raw: dict[str, Any]) -> None:
    assert compose_checks.check_builds(raw, REPO) == []


def test_the_file_and_env_example_name_the_same_variables() -> None:
    problems = compose_checks.check_variables(COMPOSE_FILE.read_text(encoding="utf-8"), _example())
    assert problems == []


def test_every_variable_is_documented() -> None:
    guide = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert [v.name for v in _example() if f"`{v.name}`" not in guide] == []


def test_the_api_server_healthcheck_is_airflows_then_statclocks(
    substituted: dict[str, Any],
) -> None:
    # Airflow 3.3's own check first (its docker-compose.yaml: curl --fail on monitor/health),
    # then the plugin's readiness with a reader's token. tests/e2e/test_compose_healthcheck.py
    # runs this very script against the running product.
    test = substituted["services"]["airflow-api-server"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"]
    script = test[3]
    assert script.index("/api/v2/monitor/health") < script.index("/statclock/api/health")
    assert MONITOR_HEALTH.endswith("/api/v2/monitor/health")


# The reference checks refuse what the tools let through.


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"AIRFLOW_PORT": "99999"},
            "services.airflow-api-server.ports: '127.0.0.1:99999:8080/tcp': host port out of "
            "1-65535",
        ),
        (
            {"MAILPIT_UI_PORT": "8080"},
            "host port 8080/tcp is already published by airflow-api-server",
        ),
    ],
    ids=["port out of range", "host port twice"],
)
def test_the_port_check_refuses_what_docker_compose_accepts(
    compose: Compose,
    filled_env: FilledEnv,
    tmp_path: Path,
    env: dict[str, str | None],
    problem: str,
) -> None:
    result = compose.run("config", env_file=filled_env.with_values(tmp_path, **env))
    assert result.returncode == 0, result.stderr  # docker-compose 1.29.2 lets it through
    problems = compose_checks.check_ports(yaml.safe_load(result.stdout))
    assert any(problem in p for p in problems), problems


def test_the_reference_checks_refuse_broken_copies(raw: dict[str, Any], tmp_path: Path) -> None:
    broken = copy.deepcopy(raw)
    broken["services"]["airflow-scheduler"]["depends_on"]["redis"] = {
        "condition": "service_healthy"
    }
    broken["services"]["mailpit"]["restart"] = "sometimes"
    broken["services"]["mailpit"]["volumes"] = ["mail-store:/data"]
    broken["services"]["airflow-init"]["depends_on"]["database"] = {"condition": "service_healthy"}

    assert compose_checks.check_depends_on(broken) == [
        "services.airflow-init.depends_on: no service named 'database'",
        "services.airflow-scheduler.depends_on: 'redis' runs only with profiles ['celery'], "
        "'airflow-scheduler' always",
    ]
    assert compose_checks.check_restart(broken) == [
        "services.mailpit.restart: 'sometimes' is not no, always, unless-stopped or on-failure[:N]"
    ]
    assert compose_checks.check_volumes(broken) == [
        "services.mailpit.volumes: 'mail-store' is not declared in volumes",
        "volumes.mailpit-data: declared but no service mounts it",
    ]

    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY requirements.txt /opt/\nCOPY --from=build /src /src\n",
        encoding="utf-8",
    )
    broken["services"]["airflow-init"]["build"] = {"context": str(context)}
    broken["services"]["mailpit"]["build"] = {"context": str(context), "dockerfile": "Other"}
    assert compose_checks.check_builds(broken, REPO) == [
        "services.mailpit.build: no Dockerfile at " + str(context / "Other"),
        "services.airflow-init.build: Dockerfile copies 'requirements.txt', which is not in "
        "the build context",
    ]


def test_the_variable_check_refuses_a_mismatch() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    text += "\n# ${NEW_SECRET:?set NEW_SECRET} ${AIRFLOW_PORT:-8081} $$ESCAPED\n"
    example = [v for v in _example() if v.name != "MAILPIT_IMAGE"]
    example = [
        compose_checks.ExampleVariable(v.name, "changeme", v.comment)
        if v.name == "POSTGRES_PASSWORD"
        else compose_checks.ExampleVariable(v.name, v.value, ("REQUIRED.",))
        if v.name == "STATCLOCK_MAIL_FROM"
        else compose_checks.ExampleVariable(v.name, v.value, ())
        if v.name == "AIRFLOW_JWT_SECRET"
        else v
        for v in example
    ]
    example.append(compose_checks.ExampleVariable("UNUSED_SETTING", "x", ()))
    assert sorted(compose_checks.check_variables(text, example)) == sorted(
        [
            "${MAILPIT_IMAGE}: not listed in .env.example",
            "${NEW_SECRET}: not listed in .env.example",
            ".env.example: UNUSED_SETTING is not used by docker-compose.yml",
            ".env.example: POSTGRES_PASSWORD is required and must be left empty",
            ".env.example: STATCLOCK_MAIL_FROM is marked REQUIRED but has a default (:-)",
            ".env.example: AIRFLOW_JWT_SECRET is required (:?) but not marked REQUIRED",
            "${AIRFLOW_PORT:-8081}: the default differs from .env.example's '8080'",
        ]
    )
