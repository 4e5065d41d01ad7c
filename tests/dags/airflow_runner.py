"""Run a DAG's real ``dag.test()`` in a subprocess with a fresh Airflow home.

For DAG tests that need Airflow itself to run a DAG (scheduling loop, XComs, Variables, asset
events, task states) without sharing Airflow's global state with the pytest process or with
each other.

API::

    from tests.dags.airflow_runner import run_dag_test

    run = run_dag_test(
        "bank_holidays",                      # dag_id; the file is <dags_folder>/<dag_id>.py
        env={"STATCLOCK_DATABASE_URL": url,   # extra environment for the run: Airflow Variables
             "AIRFLOW_VAR_X": "value"},       # as AIRFLOW_VAR_*, connections as AIRFLOW_CONN_*
        conf=None,                            # dag_run.conf (dict) or None
        logical_date=None,                    # ISO 8601 string, e.g. "2026-11-23T06:00:00+00:00";
                                              # None: now, as dag.test() itself does
        retries=0,                            # set every task's retries (None keeps the DAG's)
    )
    run.returncode          # 0 when dag.test() ran to the end, whatever the run's outcome
    run.state               # the DagRun's final state: "success" or "failed"
    run.tasks               # {task_id: state}, e.g. {"fetch_feed": "failed", ...}; mapped
                            # tasks appear as "task_id[map_index]"
    run.xcom                # {task_id: return_value} for tasks that returned something
    run.asset_events        # [{"name", "uri", "task_id", "extra"}] emitted by the run
    run.stdout, run.stderr  # everything Airflow logged (for assertion messages)

``run_dag_test`` returns a :class:`DagTestRun`, a ``subprocess.CompletedProcess`` carrying the
parsed results; it raises ``AssertionError`` (with the tail of the output) if the subprocess
failed before reporting, e.g. the DAG file did not import.

How it works: ``airflow db migrate`` runs once per pytest process into a template Airflow home
(about 7 s); each call copies the migrated SQLite metadata database into a new home, then runs
``python -c <script>`` with ``AIRFLOW_HOME`` pointing at it, ``AIRFLOW__CORE__LOAD_EXAMPLES``
off, the project's ``dags/`` and ``plugins/`` folders and the caller's ``env``. The script loads
the DAG with ``DagBag(dag_folder=<file>)``, calls ``dag.test()`` (which writes every DAG of the
folder to the metadata database, then runs the tasks in process: about 10-15 s for a small DAG,
most of it Airflow starting its in-process execution API) and prints one JSON line with the
results, which the helper parses.

``retries`` defaults to 0 because ``dag.test()`` honours real retry delays: a task failing with
``retries=3`` and a 5-minute delay would keep the run waiting for ~35 minutes. Pass
``retries=None`` to keep the DAG's own policy, e.g. to show that an ``AirflowFailException``
fails a task at once despite its retries.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
PLUGINS_FOLDER = REPO / "plugins"
RESULT_MARKER = "STATCLOCK_DAG_TEST_RESULT "

_SCRIPT = r"""
import json, sys
args = json.loads(sys.argv[1])

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=args["dag_file"])
if bag.import_errors:
    sys.exit("import errors: " + json.dumps(bag.import_errors))
dag = bag.dags.get(args["dag_id"])
if dag is None:
    sys.exit(f"no DAG {args['dag_id']!r} in {args['dag_file']} (found {sorted(bag.dags)})")
if args["retries"] is not None:
    for task in dag.tasks:
        task.retries = args["retries"]

kwargs = {"run_conf": args["conf"]}
if args["logical_date"] is not None:
    import pendulum
    kwargs["logical_date"] = pendulum.parse(args["logical_date"])
dag_run = dag.test(**kwargs)

from sqlalchemy import text
from airflow import settings

where = {"dag_id": dag.dag_id, "run_id": dag_run.run_id}
session = settings.Session()
tasks = {}
for task_id, map_index, state in session.execute(
    text("SELECT task_id, map_index, state FROM task_instance "
         "WHERE dag_id = :dag_id AND run_id = :run_id"), where):
    tasks[task_id if map_index < 0 else f"{task_id}[{map_index}]"] = state
xcom = {}
for task_id, value in session.execute(
    text("SELECT task_id, value FROM xcom WHERE dag_id = :dag_id AND run_id = :run_id "
         "AND key = 'return_value' AND map_index < 0"), where):
    xcom[task_id] = json.loads(value) if isinstance(value, (str, bytes)) else value
events = []
for name, uri, task_id, extra in session.execute(
    text("SELECT a.name, a.uri, e.source_task_id, e.extra FROM asset_event e "
         "JOIN asset a ON a.id = e.asset_id "
         "WHERE e.source_dag_id = :dag_id AND e.source_run_id = :run_id ORDER BY e.id"), where):
    extra = json.loads(extra) if isinstance(extra, (str, bytes)) else extra
    events.append({"name": name, "uri": uri, "task_id": task_id, "extra": extra})
state = getattr(dag_run.state, "value", dag_run.state)
result = {"run_id": dag_run.run_id, "state": state, "tasks": tasks, "xcom": xcom,
          "asset_events": events}
print(args["marker"] + json.dumps(result, default=str), flush=True)
"""


class DagTestRun(subprocess.CompletedProcess[str]):
    """A finished ``dag.test()`` subprocess and what the run did."""

    def __init__(self, completed: subprocess.CompletedProcess[str], result: dict[str, Any]) -> None:
        super().__init__(completed.args, completed.returncode, completed.stdout, completed.stderr)
        self.run_id: str = result["run_id"]
        self.state: str = result["state"]
        self.tasks: dict[str, str] = result["tasks"]
        self.xcom: dict[str, Any] = result["xcom"]
        self.asset_events: list[dict[str, Any]] = result["asset_events"]

    def tail(self, chars: int = 4000) -> str:
        """The end of the combined output, for assertion messages."""
        return (self.stdout + self.stderr)[-chars:]


def _base_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # A developer's own Airflow settings must not leak into the run.
        if not key.startswith(("AIRFLOW__", "AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW_HOME"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


@cache
def migrated_template() -> Path:
    """An Airflow home with a migrated SQLite metadata database, made once per process."""
    home = Path(tempfile.mkdtemp(prefix="statclock-airflow-template-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=_base_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    if result.returncode != 0 or not (home / "airflow.db").exists():
        raise AssertionError(
            f"airflow db migrate failed:\n{(result.stdout + result.stderr)[-4000:]}"
        )
    return home


def fresh_airflow_home(parent: Path | None = None) -> Path:
    """A new Airflow home holding a copy of the migrated metadata database."""
    if parent is None:
        home = Path(tempfile.mkdtemp(prefix="statclock-airflow-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    else:
        home = Path(tempfile.mkdtemp(prefix="airflow-", dir=parent))
    shutil.copy2(migrated_template() / "airflow.db", home / "airflow.db")
    return home


def run_dag_test(
    dag_id: str,
    env: dict[str, str] | None = None,
    conf: dict[str, Any] | None = None,
    logical_date: str | None = None,
    *,
    retries: int | None = 0,
    home: Path | None = None,
    timeout: float = 300,
) -> DagTestRun:
    """Run ``dag.test()`` for ``dag_id`` in a subprocess with a fresh Airflow home.

    ``home``: a directory to create the Airflow home in (e.g. pytest's ``tmp_path``, to keep the
    logs when a test fails); by default a temporary one removed at exit. See the module
    docstring for everything else.
    """
    airflow_home = fresh_airflow_home(home)
    args = {
        "dag_id": dag_id,
        "dag_file": str(DAGS_FOLDER / f"{dag_id}.py"),
        "conf": conf,
        "logical_date": logical_date,
        "retries": retries,
        "marker": RESULT_MARKER,
    }
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(args)],
        env={**_base_env(airflow_home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if completed.returncode != 0 or not lines:
        raise AssertionError(
            f"dag.test() for {dag_id} did not finish (exit status {completed.returncode}):\n"
            f"{(completed.stdout + completed.stderr)[-4000:]}"
        )
    return DagTestRun(completed, json.loads(lines[-1][len(RESULT_MARKER) :]))
