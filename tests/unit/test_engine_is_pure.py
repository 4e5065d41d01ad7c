"""The engine package runs without Airflow (thin DAGs over a pure engine): no module of
`statutory_clock`, whichever is imported first, brings Airflow in."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import statutory_clock

# Every module of the package, found by walking it, so a module added later is covered too.
# Alembic's migration environment and scripts are run by Alembic, inside its own context, not
# imported: they are left out of the import check and read by the static check below.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(statutory_clock.__path__, "statutory_clock.")
    if not info.name.startswith("statutory_clock.store.migrations.")
)
PACKAGE = Path(statutory_clock.__file__).parent

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from datetime import date
import statutory_clock
statutory_clock.compute_clock(statutory_clock.CaseFacts("sif", date(2017, 9, 4)))
leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
print("leaked:", leaked)
"""


def test_the_walk_finds_the_whole_package() -> None:
    # A walk that found nothing would make the test below pass without checking anything.
    assert {"statutory_clock.engine", "statutory_clock.cli", "statutory_clock.store.db"} <= set(
        MODULES
    )
    assert "statutory_clock.board_pack.render" in MODULES
    assert len(MODULES) >= 25


def test_no_module_of_the_engine_package_imports_airflow() -> None:
    # One fresh interpreter imports every module (Airflow is installed in this environment, so
    # an import of it anywhere would succeed and show up in sys.modules).
    result = subprocess.run(
        [sys.executable, "-c", CHECK, *MODULES], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "leaked: []"


def test_the_check_sees_an_airflow_import() -> None:
    # The same check with Airflow imported on purpose reports it: the test above can fail.
    result = subprocess.run(
        [sys.executable, "-c", CHECK, "statutory_clock.engine", "airflow.sdk"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "'airflow'" in result.stdout


def _airflow_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [n for n in names if n == "airflow" or n.startswith("airflow.")]
    return found


def test_no_source_file_of_the_package_imports_airflow_even_lazily() -> None:
    # The import check above cannot see an import inside a function that has not run; this
    # reads every file, migrations included.
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= len(MODULES)
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in files
        if (found := _airflow_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert _airflow_imports("def f():\n    from airflow.sdk import dag\n") == ["airflow.sdk"]
