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
    "area_help_and_protection": ["bad", "inadequate\n", "Inadequate"],
    "area_leadership": ["good\x00", 3],
    "improvement_notice": ["2025-02-30", "2025-03-03\n", "March 2025"],
    "direction_commissioner": ["yes", 1, None],
    "direction_independent_chair": ["no", 0],
    "improvement_notice_independent_chair": ["true", 1],
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


def test_the_form_takes_the_ilacs_key_judgements_and_the_interventions(params):
    form = copy.deepcopy(params)
    for area in ("help_and_protection", "children_in_care", "care_leavers", "leadership"):
        assert form.get_param(f"area_{area}").resolve("inadequate") == "inadequate"
        assert form.get_param(f"area_{area}").resolve(None) is None
    assert "area_overall" not in form
    assert form.get_param("improvement_notice").resolve("2025-06-01") == "2025-06-01"
    assert form.get_param("improvement_notice").resolve(None) is None
    # Defaults: a direction appoints a commissioner and names a chair (--direction's meaning).
    assert form.get_param("direction_commissioner").resolve() is True
    assert form.get_param("direction_independent_chair").resolve() is True
    assert form.get_param("improvement_notice_independent_chair").resolve() is False
    assert form.get_param("direction_commissioner").resolve(False) is False


@pytest.mark.parametrize(
    ("name", "value"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_the_form_refuses_hostile_values(params, name, value):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        copy.deepcopy(params).get_param(name).resolve(value)
