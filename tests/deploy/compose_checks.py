"""Reference checks of docker-compose.yml that neither docker-compose 1.29.2 nor the schema makes.

Each check takes the parsed file (or its text) and returns one line per problem, naming the
service and the value, so that a test shows every problem at once and the checks themselves can
be tested on broken copies. `docker-compose config` accepts a host port of 80800, the same host
port published twice and a restart policy of "sometimes"; these checks do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# docker compose reads these itself from .env; the file never references them.
COMPOSE_SETTINGS = frozenset({"COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"})

_BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
_BARE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
# [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], each port possibly a range, as printed by
# `docker-compose config` (IPv6 host addresses in brackets).
_PORT = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]):)?"
    r"(?:(?P<host>\d+(?:-\d+)?)?:)?"
    r"(?P<container>\d+(?:-\d+)?)"
    r"(?:/(?P<protocol>tcp|udp|sctp))?$"
)
_RESTART = re.compile(r"^(?:no|always|unless-stopped|on-failure(?::\d+)?)$")


@dataclass(frozen=True)
class Reference:
    """One `${NAME...}` in the compose file: its operator (`:-`, `:?`, ...) and argument."""

    name: str
    operator: str
    argument: str

    @property
    def required(self) -> bool:
        return self.operator in {"?", ":?"}

    @property
    def default(self) -> str | None:
        return self.argument if self.operator in {"-", ":-"} else None


@dataclass(frozen=True)
class ExampleVariable:
    """One `NAME=value` line of .env.example and the comment lines above it."""

    name: str
    value: str
    comment: tuple[str, ...]

    @property
    def marked_required(self) -> bool:
        return any(line.startswith("REQUIRED") for line in self.comment)


def references(compose_text: str) -> list[Reference]:
    """Every variable the compose file interpolates; `$$` is Compose's escaped dollar."""
    text = compose_text.replace("$$", "")
    found = [Reference(m["name"], m["op"] or "", m["arg"] or "") for m in _BRACED.finditer(text)]
    found += [Reference(m["name"], "", "") for m in _BARE.finditer(_BRACED.sub("", text))]
    return found


def parse_env_example(text: str) -> list[ExampleVariable]:
    """The variables of .env.example in order, each with the comment lines since the last one."""
    variables: list[ExampleVariable] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            comment = []
        elif stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
        elif match := _ASSIGNMENT.match(stripped):
            variables.append(ExampleVariable(match["name"], match["value"], tuple(comment)))
            comment = []
        else:
            raise ValueError(f".env.example: not NAME=value or a comment: {line!r}")
    return variables


def _services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    return services


def _depends_on(service: dict[str, Any]) -> list[str]:
    depends = service.get("depends_on") or []
    return list(depends) if isinstance(depends, (list, dict)) else []


def check_depends_on(doc: dict[str, Any]) -> list[str]:
    """Every service a depends_on names exists, and no service outside a profile waits on one
    inside it (without the profile, `docker compose up` would refuse the dependency)."""
    services = _services(doc)
    problems = []
    for name, service in services.items():
        for target in _depends_on(service):
            if target not in services:
                problems.append(f"services.{name}.depends_on: no service named {target!r}")
            elif services[target].get("profiles") and not service.get("profiles"):
                problems.append(
                    f"services.{name}.depends_on: {target!r} runs only with profiles "
                    f"{services[target]['profiles']}, {name!r} always"
                )
    return problems


def _volume_source(entry: Any) -> str | None:
    """The named volume of a service's volume entry, or None for a bind mount or tmpfs."""
    if isinstance(entry, dict):
        source = entry.get("source")
        return source if entry.get("type", "volume") == "volume" and source else None
    source = str(entry).split(":", 1)[0] if ":" in str(entry) else None
    if source is None or source.startswith((".", "/", "~", "$")):
        return None
    return source


def check_volumes(doc: dict[str, Any]) -> list[str]:
    """Every named volume a service mounts is declared, and every declared one is mounted."""
    declared = set(doc.get("volumes") or {})
    used: set[str] = set()
    problems = []
    for name, service in _services(doc).items():
        for entry in service.get("volumes") or []:
            source = _volume_source(entry)
            if source is None:
                continue
            used.add(source)
            if source not in declared:
                problems.append(f"services.{name}.volumes: {source!r} is not declared in volumes")
    problems += [f"volumes.{v}: declared but no service mounts it" for v in sorted(declared - used)]
    return problems


def _port_numbers(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def check_ports(config: dict[str, Any]) -> list[str]:
    """Every published port (after substitution) is well-formed and in range, and no host port
    is published twice, whatever the address: both could not bind on a host with one address."""
    problems = []
    seen: dict[tuple[int, str], str] = {}
    for name, service in _services(config).items():
        for entry in service.get("ports") or []:
            match = _PORT.match(str(entry))
            if not match:
                problems.append(f"services.{name}.ports: {entry!r} is not [IP:][HOST:]PORT[/PROTO]")
                continue
            protocol = match["protocol"] or "tcp"
            for part in ("host", "container"):
                if match[part] is None:
                    continue
                numbers = _port_numbers(match[part])
                if not numbers or numbers[0] < 1 or numbers[-1] > 65535:
                    problems.append(f"services.{name}.ports: {entry!r}: {part} port out of 1-65535")
                elif part == "host":
                    for number in numbers:
                        if (number, protocol) in seen:
                            problems.append(
                                f"services.{name}.ports: host port {number}/{protocol} is "
                                f"already published by {seen[number, protocol]}"
                            )
                        seen[number, protocol] = name
    return problems


def check_restart(doc: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in _services(doc).items():
        restart = service.get("restart")
        if restart is not None and not _RESTART.match(str(restart)):
            problems.append(
                f"services.{name}.restart: {restart!r} is not no, always, unless-stopped or "
                "on-failure[:N]"
            )
    return problems


def _copy_sources(dockerfile: str) -> list[str]:
    """The context paths a Dockerfile's COPY and ADD lines read (not those from another stage)."""
    sources = []
    joined = re.sub(r"\\\n", " ", dockerfile)
    for line in joined.splitlines():
        words = line.split()
        if not words or words[0].upper() not in {"COPY", "ADD"}:
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += args[:-1]
    return sources


def check_builds(doc: dict[str, Any], project_dir: Path) -> list[str]:
    """Every build context and Dockerfile exists, and every file the Dockerfile copies."""
    problems = []
    for name, service in _services(doc).items():
        build = service.get("build")
        if build is None:
            continue
        spec = {"context": build} if isinstance(build, str) else build
        context = (project_dir / spec.get("context", ".")).resolve()
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"services.{name}.build: context {spec.get('context')!r} is no folder")
        elif not dockerfile.is_file():
            problems.append(f"services.{name}.build: no Dockerfile at {dockerfile}")
        else:
            for source in _copy_sources(dockerfile.read_text(encoding="utf-8")):
                if "$" not in source and not list(context.glob(source.rstrip("/"))):
                    problems.append(
                        f"services.{name}.build: {dockerfile.name} copies {source!r}, "
                        "which is not in the build context"
                    )
    return problems


def check_variables(compose_text: str, example: list[ExampleVariable]) -> list[str]:
    """The file and .env.example agree: every variable the file references is listed, every
    listed one is used, the required ones (`:?`) and only those are marked REQUIRED and have no
    value in the example (no sample secret), and each default equals the example's value."""
    refs = references(compose_text)
    listed = {v.name: v for v in example}
    used = {r.name for r in refs}
    required = {r.name for r in refs if r.required}
    problems = [f"${{{n}}}: not listed in .env.example" for n in sorted(used - set(listed))]
    problems += [
        f".env.example: {n} is not used by docker-compose.yml"
        for n in sorted(set(listed) - used - COMPOSE_SETTINGS)
    ]
    for name, variable in listed.items():
        if name in required and not variable.marked_required:
            problems.append(f".env.example: {name} is required (:?) but not marked REQUIRED")
        if name in used and name not in required and variable.marked_required:
            problems.append(f".env.example: {name} is marked REQUIRED but has a default (:-)")
        if name in required and variable.value:
            problems.append(f".env.example: {name} is required and must be left empty")
    for ref in refs:
        if ref.default is not None and ref.name in listed and listed[ref.name].value != ref.default:
            problems.append(
                f"${{{ref.name}:-{ref.default}}}: the default differs from .env.example's "
                f"{listed[ref.name].value!r}"
            )
    duplicates = sorted({v.name for v in example if [w.name for w in example].count(v.name) > 1})
    problems += [f".env.example: {n} is listed twice" for n in duplicates]
    return problems
