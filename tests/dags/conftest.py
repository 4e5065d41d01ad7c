"""Airflow settings for DAG tests in this process, set before anything imports airflow.

Without AIRFLOW_HOME Airflow would write ~/airflow; the DAG runs themselves happen in
subprocesses with their own fresh homes (see airflow_runner.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="statclock-airflow-pytest-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
