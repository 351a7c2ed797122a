"""The definition format: bundled files validate; broken files get errors naming file/item/field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from attunement.instruments import (
    DefinitionError,
    definition_schema,
    list_instruments,
    load_definition,
    load_instrument,
)

BUNDLE = {"epds", "phq9", "gad7", "whooley", "pbq", "prfq", "maas", "mpas", "ace", "kpcs", "osss3"}
EPDS_FILE = Path(load_instrument("epds").source_file)


def test_bundle_is_complete_and_consistent():
    ids = {i.id for i in list_instruments()}
    assert ids >= BUNDLE
    for inst in list_instruments():
        assert inst.citation and inst.licence["basis"]
        for c in inst.cutoffs:
            assert c.source and c.evidence
        for r in inst.safety:
            assert r.source


def test_loinc_codes_only_where_known():
    assert {i.id: i.loinc for i in list_instruments() if i.loinc} == {
        "epds": "71354-5", "phq9": "44249-1", "gad7": "69737-5"}


def test_licensed_wording_is_not_bundled():
    for inst in list_instruments():
        assert inst.licence["wording_bundled"] is False
        for it in inst.items:
            assert len(it.label) <= 80


def test_safety_items_named_by_the_reference():
    assert load_instrument("epds").safety_items == {10}
    assert load_instrument("phq9").safety_items == {9}
    assert load_instrument("pbq").safety_items == {18, 24}
    assert load_instrument("maas").safety_items == {12, 19}


def test_pbq_item_order_is_versioned():
    pbq = load_instrument("pbq")
    assert pbq.item_order["version"] == "2006"
    assert pbq.form_order() == list(range(1, 26))
    old = load_instrument("pbq", variant="order_2001")
    assert old.form_order()[7:10] == [10, 8, 9]


def test_unknown_variant():
    with pytest.raises(DefinitionError, match="unknown variant"):
        load_instrument("epds", variant="nope")


def test_schema_is_json_schema():
    schema = definition_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "items" in schema["required"]


def _broken(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(EPDS_FILE.read_text())
    change(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _set(path: list, value):
    def change(data):
        target = data
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(("change", "item", "field", "message"), [
    (_set(["items", 2, "scores"], [3, 2, 1]), 3, "key/scores", None),  # schema: key or scores
    (lambda d: d["items"][3].pop("key") and d["items"][3].update(scores=[0, 1, 2]), None,
     "scales[0] (total).range", "disagrees"),
    (_set(["items", 4, "key"], "sideways"), 5, "key", "unknown key"),
    (_set(["items", 5, "options"], 5), 6, "scores", "options is 5"),
    (_set(["scales", 1, "items"], [3, 4, 11]), 11, "scales[1] (anxiety).items", "does not exist"),
    (_set(["scales", 0, "range"], [0, 31]), None, "scales[0] (total).range", "disagrees"),
    (_set(["cutoffs", 2, "configurable"], False), None, "cutoffs[2].configurable", "configurable"),
    (_set(["cutoffs", 0, "value"], 40), None, "cutoffs[0].value", "outside"),
    (_set(["safety", 0, "items"], [12]), 12, "safety[0].items", "does not exist"),
    (_set(["items", 1, "label"], ""), 2, "label", None),
    (lambda d: d.pop("citation"), None, "citation", "is required but missing"),
    (_set(["loinc"], "not-a-code"), None, "loinc", None),
])
def test_broken_definitions_name_file_item_field(tmp_path, change, item, field, message):
    path = _broken(tmp_path, change)
    with pytest.raises(DefinitionError) as err:
        load_definition(path)
    e = err.value
    assert e.file == str(path) and str(path) in str(e)
    assert e.item == item, str(e)
    assert e.field == field, str(e)
    if message:
        assert message in str(e)


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"bad.yaml: line 2: not valid YAML"):
        load_definition(bad)
    with pytest.raises(DefinitionError, match="cannot read"):
        load_definition(tmp_path / "absent.yaml")


def test_observation_kind_and_observer_respondent(tmp_path):
    data = yaml.safe_load(EPDS_FILE.read_text())
    data.update(id="obsdemo", kind="observation", respondent="observer", loinc=None,
                recall_period=None, metadata={"manual": "coding manual v2"})
    path = tmp_path / "obs_demo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    inst = load_definition(path)
    assert (inst.kind, inst.respondent) == ("observation", "observer")
    assert inst.metadata == {"manual": "coding manual v2"}


def test_prorating_definition_is_applied_but_never_over_a_safety_item(tmp_path):
    from attunement.instruments import register_instrument, score_responses
    from attunement.instruments.definition import _REGISTERED

    data = yaml.safe_load(Path(load_instrument("phq9").source_file).read_text())
    data["id"] = "phqprorate"
    data["scales"][0]["missing"] = {"rule": "prorate", "max_missing": 1, "research_only": True}
    path = tmp_path / "phqprorate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    register_instrument(load_definition(path))
    try:
        one_missing = score_responses("phqprorate", [2, 1, 1, 2, None, 1, 1, 0, 1])
        assert one_missing.scores["phqprorate_total"] == pytest.approx(9 / 8 * 9)
        assert one_missing.scores["phqprorate_phq2"] == 3
        safety_missing = score_responses("phqprorate", [2, 1, 1, 2, 0, 1, 1, 0, None])
        assert safety_missing.scores["phqprorate_total"] is None
        assert safety_missing.flag("phqprorate_self_harm_unanswered") is not None
        two_missing = score_responses("phqprorate", [None, None, 1, 2, 0, 1, 1, 0, 1])
        assert two_missing.scores["phqprorate_total"] is None
    finally:
        _REGISTERED.pop("phqprorate", None)
