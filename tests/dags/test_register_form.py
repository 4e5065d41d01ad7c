"""The register_inspection trigger form refuses hostile values as they are typed.

The form's Params are JSON schemas that Airflow checks when a run is triggered, from the UI or
the REST API; the task validates again with the case file's rules (tests/unit/
test_casefile_hostile.py covers that path). Here: each Param against hostile values, and the
ordinary registration of tests/dags/test_dag_runs.py still accepted.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.unit.test_casefile_hostile import FORM

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "register_inspection.py"

HOSTILE = {
    "local_authority": [
        "Croydon\r\nBcc: attacker@example.com",
        "Croydon\n",
        "Croy\x00don",
        "\x1b[2JCroydon",
        "Croydon\u202e",
        "Croy\u200bdon",
        "\ufeffCroydon",
        "Croydon\u2028",
        "x" * 201,
        "",
    ],
    "dfe_code": ["306\n", "30", "3066", "３０６", "306\x00"],
    "published": ["2025-02-30", "04/03/2025", "2025-03-03\n"],
    "judgements": [
        {"leadership\n": "good"},
        {"leadership": "good\r\n"},
        {"leadership": "x" * 31},
        {f"area_{i}": "good" for i in range(21)},
        {"leadership": ["good"]},
    ],
    "recommendations": [
        ["Review plans\x00"],
        ["Review plans\r"],
        ["Review \u202eplans"],
        ["x" * 10_001],
        ["x"] * 1000,
        [5],
    ],
    "programme_manager_email": [
        "pm@exampleshire.example\n",
        "pm@exampleshire.example\r\nBcc: x@example.com",
        "PM <pm@exampleshire.example>",
        "p" * 300 + "@x.example",
        "not an address",
    ],
    "case_key": ["exampleshire-2025\n", "Exampleshire", "x" * 101, "a"],
}
CASES = [(name, value) for name, values in HOSTILE.items() for value in values]


@pytest.fixture(scope="module")
def params():
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["register_inspection"].params


def test_the_ordinary_registration_passes_the_form(params):
    form = copy.deepcopy(params)
    for name, value in FORM.items():
        form.get_param(name).resolve(value)
    multi_line = ["First line\nsecond line\twith a tab"]
    form.get_param("recommendations").resolve(multi_line)
    form.get_param("local_authority").resolve("Ynys Môn – Cyngor Sir")
    form.get_param("programme_manager_email").resolve("programme.manager@localhost")


@pytest.mark.parametrize(
    ("name", "value"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_the_form_refuses_hostile_values(params, name, value):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        copy.deepcopy(params).get_param(name).resolve(value)
