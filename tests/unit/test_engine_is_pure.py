"""The engine package must run without Airflow (thin DAGs over a pure engine)."""

import subprocess
import sys

CHECK = """
import sys
import statutory_clock, statutory_clock.cli, statutory_clock.calendar, statutory_clock.engine
from datetime import date
statutory_clock.compute_clock(statutory_clock.CaseFacts("sif", date(2017, 9, 4)))
leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
assert not leaked, leaked
print("pure")
"""


def test_importing_the_engine_does_not_import_airflow():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pure"
