"""Every rulebook loads and validates; a broken one is a clear error naming file, rule, field."""

from pathlib import Path

import pytest
import yaml

from statutory_clock.rules import (
    RULEBOOK_FILES,
    RulebookError,
    load_recommendation_policy,
    load_rulebook_file,
    load_rulebooks,
    rules_dir,
)


@pytest.mark.parametrize("name", RULEBOOK_FILES)
def test_rulebook_loads(name):
    book = load_rulebook_file(rules_dir() / f"{name}.yaml")
    assert book.framework == name
    for rule in book.rules:
        assert rule.source.strip() and rule.confidence
        assert rule.ref == f"{name}.{rule.id}"
        assert rule.party in ("council", "ofsted", "dfe")


def test_all_rulebooks_and_policy_load():
    assert set(load_rulebooks()) == set(RULEBOOK_FILES)
    assert load_recommendation_policy().default_rounding == "end_of_month"


def test_every_rule_says_whose_act_it_is():
    """In the raw files too, not only after parsing: a rule without a party is refused."""
    for name in RULEBOOK_FILES:
        raw = yaml.safe_load((rules_dir() / f"{name}.yaml").read_text())
        for rule in raw["rules"]:
            assert rule.get("party") in ("council", "ofsted", "dfe"), (name, rule["id"])


def _broken(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load((rules_dir() / "sif.yaml").read_text())
    edit(raw)
    path = tmp_path / "sif.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["rules"][1].pop("source"),
            r"rule written_statement_of_action, field \(top level\): 'source' is a required",
        ),
        (
            lambda r: r["rules"][1].update(unit="fortnights"),
            r"rule written_statement_of_action, field unit: 'fortnights' is not one of",
        ),
        (
            lambda r: r["rules"][0].update(offset="thirty"),
            r"rule publish_report, field offset: 'thirty' is not of type 'integer'",
        ),
        (
            lambda r: r["rules"][0].update(counting="same_day_of_month"),
            r"rule publish_report, field counting: 'same_day_of_month' does not fit unit",
        ),
        (
            lambda r: r["rules"][3].update(anchor="milestone:not_a_rule"),
            r"rule reinspection, field anchor: 'not_a_rule' is not a rule defined earlier",
        ),
        (
            lambda r: r["rules"][0].update(valid_from="2013-02-30"),
            r"rule publish_report, field valid_from: '2013-02-30' is not a 'date'",
        ),
        (lambda r: r.pop("framework"), r"field \(top level\): 'framework' is a required"),
        (
            lambda r: r["rules"][0].pop("party"),
            r"rule publish_report, field \(top level\): 'party' is a required",
        ),
        (
            lambda r: r["rules"][0].update(party="lscb"),
            r"rule publish_report, field party: 'lscb' is not one of",
        ),
        (  # `requires` was read and ignored: the intervention book needs a direction anyway
            lambda r: r["rules"][0].update(requires=["direction"]),
            r"rule publish_report, field \(top level\): Additional properties .*'requires'",
        ),
        (
            lambda r: r["judgement_labels"].pop("good"),
            r"field judgement_labels: must give one label per grade",
        ),
    ],
    ids=[
        "missing-source",
        "bad-unit",
        "bad-offset",
        "counting-mismatch",
        "dangling-anchor",
        "impossible-date",
        "no-framework",
        "no-party",
        "unknown-party",
        "requires-is-gone",
        "grade-without-label",
    ],
)
def test_broken_rulebook_names_file_rule_and_field(tmp_path, edit, message):
    path = _broken(tmp_path, edit)
    with pytest.raises(RulebookError, match=message) as caught:
        load_rulebook_file(path)
    assert str(caught.value).startswith(str(path))


def test_overlapping_versions_are_rejected(tmp_path):
    def duplicate(raw):
        raw["rules"].append(dict(raw["rules"][0]))

    with pytest.raises(RulebookError, match=r"rule publish_report, field valid_from: .* overlaps"):
        load_rulebook_file(_broken(tmp_path, duplicate))


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "sif.yaml"
    path.write_text("framework: sif\nrules: [\n  - id: x\n")
    with pytest.raises(RulebookError, match=r"sif\.yaml, line \d+: not valid YAML"):
        load_rulebook_file(path)


def test_broken_rulebook_directory_is_reported_by_load_rulebooks(tmp_path, monkeypatch):
    monkeypatch.setenv("STATCLOCK_CACHE_DIR", str(tmp_path / "cache"))
    for name in RULEBOOK_FILES:
        (tmp_path / f"{name}.yaml").write_text((rules_dir() / f"{name}.yaml").read_text())
    (tmp_path / "ilacs.yaml").write_text(
        (rules_dir() / "ilacs.yaml").read_text().replace("confidence: high", "confidence: sure", 1)
    )
    with pytest.raises(RulebookError, match=r"ilacs\.yaml, rule publish_report, field confidence"):
        load_rulebooks(str(tmp_path))
