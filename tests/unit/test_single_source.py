"""The rulebooks are the single source of frameworks, judgement scales, labels and the default
rounding: no other module or schema restates them (issue 11, item 6)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from statutory_clock.rules import (
    FRAMEWORKS,
    INTERVENTION,
    framework_labels,
    judgement_labels,
    judgements,
    load_recommendation_policy,
    load_rulebooks,
    rules_dir,
)

ROOT = Path(__file__).resolve().parents[2]
# Data, not lists of choices: the hand-written board-pack sample (issue 11 replaces it with a
# generated fixture) names grades as case facts.
DATA_MODULES = {"include/statutory_clock/board_pack/sample_snapshot.py"}
# Code that implements what a rulebook names, rather than restating a list of choices: the
# engine knows how to apply these rounding policies (and refuses a rulebook naming another).
IMPLEMENTATIONS = {("include/statutory_clock/engine.py", frozenset({"end_of_month", "exact"}))}


def _vocabulary() -> set[str]:
    policies = load_recommendation_policy().rounding_policies
    return {*FRAMEWORKS, INTERVENTION, *judgements(), *policies}


def _restated_lists(path: Path, words: set[str]) -> list[str]:
    """Collection literals naming two or more frameworks, grades or rounding policies."""
    name = str(path.relative_to(ROOT)) if ROOT in path.parents else path.name
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        items: list[ast.expr | None]
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        else:
            continue
        named = {
            item.value
            for item in items
            if isinstance(item, ast.Constant) and isinstance(item.value, str)
            if item.value in words
        }
        if (name, frozenset(named)) in IMPLEMENTATIONS:
            continue
        if len(named) >= 2:
            found.append(f"{name}:{node.lineno} {sorted(named)}")
    return found


def test_no_module_restates_what_the_rulebooks_say():
    words = _vocabulary()
    sources = [*(ROOT / "include").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]
    restated = []
    for path in sources:
        if str(path.relative_to(ROOT)) in DATA_MODULES or rules_dir() in path.parents:
            continue
        restated += _restated_lists(path, words)
    assert restated == [], "take these from statutory_clock.rules instead:\n" + "\n".join(restated)


def test_the_detector_finds_a_restated_list(tmp_path):
    """The test above can fail: a module with the old restated tuple is caught."""
    module = tmp_path / "restated_example.py"
    module.write_text('JUDGEMENTS = ("inadequate", "requires_improvement", "good")\n')
    assert _restated_lists(module, _vocabulary()) == [
        "restated_example.py:1 ['good', 'inadequate', 'requires_improvement']"
    ]


def test_case_file_schema_enums_match_the_rulebooks():
    schema = json.loads(
        (ROOT / "include/statutory_clock/store/casefile.schema.json").read_text(encoding="utf-8")
    )
    inspection = schema["properties"]["inspection"]["properties"]
    assert tuple(inspection["framework"]["enum"]) == FRAMEWORKS
    policies = set(load_recommendation_policy().rounding_policies)
    assert set(inspection["rounding"]["enum"]) == policies
    # the LSCB review is graded on the SIF scale
    sif_scale = load_rulebooks()["sif"].judgement_scale
    assert set(inspection["lscb_review"]["enum"]) == {None, *sif_scale}


def test_register_form_offers_what_the_rulebooks_say():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "register_inspection_params", ROOT / "dags" / "register_inspection.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tuple(module.FRAMEWORKS) == FRAMEWORKS
    assert [None, *judgements()] == module.JUDGEMENTS


def test_labels_come_from_the_rulebooks():
    from statutory_clock.board_pack.render import framework_label, judgement_label

    books = load_rulebooks()
    for name in FRAMEWORKS:
        assert framework_label(name) == books[name].label == framework_labels()[name]
        for grade, label in books[name].judgement_labels.items():
            assert judgement_label(grade) == label == judgement_labels()[grade]
    assert set(judgements()) == set(judgement_labels())


def test_default_rounding_is_the_rulebooks():
    from statutory_clock.store.casefile import normalise

    doc = normalise(
        {
            "schema_version": 1,
            "local_authority": {"name": "Exampleshire County Council", "dfe_code": "901"},
            "inspection": {"framework": "sif", "published": "2017-09-04"},
        }
    )
    assert doc["inspection"]["rounding"] == load_recommendation_policy().default_rounding
