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
    "area_help_and_protection": ["bad", "inadequate\n", "Inadequate", "adequate"],
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
        if name != "judgements":  # not a field of the form: the REST API's, checked by the task
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


# What Airflow 3.3's trigger form sends (airflow-core/src/airflow/ui/src/components/
# FlexibleForm): every field of the form, a text, date or dropdown field left empty (or
# cleared) as null, booleans as their defaults; the API server then validates each Param's
# schema with jsonschema.validate(..., format_checker=FormatChecker()), which for a schema
# without $schema is the latest draft (2020-12).
from tests.dags.test_register_inspection_runs import CROYDON, EMPTY_FORM  # noqa: E402


def _validator(schema):
    import jsonschema

    return jsonschema.validators.validator_for(schema)(
        schema, format_checker=jsonschema.FormatChecker()
    )


def test_the_form_sends_every_field_the_empty_form_lists(params):
    assert set(EMPTY_FORM) == set(params.keys())


@pytest.mark.parametrize("form", [EMPTY_FORM, CROYDON], ids=["empty", "full"])
def test_each_field_of_the_form_as_sent_is_valid_by_its_schema(params, form):
    import jsonschema

    for name, value in form.items():
        schema = params.get_param(name).schema
        assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator
        assert list(_validator(schema).iter_errors(value)) == [], name


def test_airflow_accepts_the_empty_form_and_shows_no_field_as_required(params):
    merged = copy.deepcopy(params)
    merged.update(EMPTY_FORM)
    assert merged.validate()["local_authority"] is None
    for name in params:
        schema = params.get_param(name).schema
        # Airflow's form marks a field "required" when its type has no "null" (isParamRequired),
        # and shows "This field is required" at once when such a field's value is null.
        if not (isinstance(schema["type"], list) and "null" in schema["type"]):
            assert params[name] is not None, name


def test_no_dropdown_shows_the_word_null(params):
    for name in params:
        schema = params.get_param(name).schema
        if "enum" in schema:
            shown = schema.get("values_display", {})
            assert all(shown.get("null" if v is None else v) for v in schema["enum"]), name
            assert "null" not in {shown.get("null" if v is None else v) for v in schema["enum"]}


def test_the_form_opens_on_the_council_and_the_report(params):
    """The council's and the report's fields have no section: Airflow's form shows them in its
    default section, open when the form opens (a field in a named section starts closed)."""
    sections = {name: params.get_param(name).schema.get("section") for name in params}
    assert [name for name, section in sections.items() if section is None] == [
        "local_authority",
        "dfe_code",
        "programme_manager_email",
        "case_key",
        "framework",
        "published",
        "received",
    ]
    assert list(dict.fromkeys(s for s in sections.values() if s is not None)) == [
        "Judgements",
        "Recommendations",
        "DfE intervention",
    ]
    assert all("section" not in params.get_param(n).schema for n, s in sections.items() if not s)


@pytest.mark.parametrize(
    ("name", "value"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_the_api_servers_own_check_refuses_hostile_values(params, name, value):
    """The API server's copy of a Param (SerializedParam), which checks a triggered run."""
    import jsonschema
    from airflow.serialization.definitions.param import SerializedParam

    with pytest.raises(jsonschema.ValidationError):
        SerializedParam(value, **params.get_param(name).schema).resolve(raises=True)
    assert (
        SerializedParam(EMPTY_FORM[name], **params.get_param(name).schema).resolve(raises=True)
        == EMPTY_FORM[name]
    )
