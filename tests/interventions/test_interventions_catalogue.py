"""The catalogue: every programme of the research summary the catalogue was built from (see the
``section`` of each entry) with every field, validated on load."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from attunement.interventions import CatalogueError, load_catalogue, parse_catalogue

SUMMARY_TABLE = {  # row of the research summary's programme table -> catalogue id
    1: "abc", 2: "vipp_sd", 3: "vig", 4: "cos_p", 5: "cos_i", 6: "mtb", 7: "cpp", 8: "pip",
    9: "www", 10: "fnp", 11: "gabi", 12: "lighthouse", 13: "new_beginnings", 14: "mio",
    15: "mellow_bumps", 16: "mellow_babies", 17: "mellow_parenting", 18: "family_foundations",
    19: "baby_triple_p",
}


@pytest.fixture(scope="module")
def doc() -> dict:
    from importlib import resources

    text = resources.files("attunement.interventions").joinpath("catalogue.yaml").read_text()
    return yaml.safe_load(text)


def test_every_summary_table_programme_is_present_abc_and_mellow_babies_first() -> None:
    cat = load_catalogue()
    assert len(cat) >= 19
    assert set(SUMMARY_TABLE.values()) <= set(cat.ids)
    assert cat.ids[:2] == ["abc", "mellow_babies"]


def test_every_programme_has_every_field() -> None:
    for prog in load_catalogue():
        d = prog.to_dict()
        for key in ("mechanism", "pathways", "tiers", "eligibility", "format", "dose",
                    "delivered_by", "outcome_measures", "evidence", "uncertainties"):
            assert d[key], (prog.id, key)
        assert d["evidence"]["studies"][0]["citation"]
        assert 1 <= d["evidence"]["strength"] <= 5
        assert prog.start.days_from_birth <= prog.end.days_from_birth


def test_known_windows_from_the_reference() -> None:
    cat = load_catalogue()
    abc = cat.get("abc")
    assert (abc.start.age_months, abc.end.age_months) == (6, 48)
    bumps = cat.get("mellow_bumps")
    assert (bumps.start.gestation_weeks, bumps.end.gestation_weeks) == (20, 30)
    assert cat.get("www").window_text() == "10 months to 30 months"
    assert cat.get("mio").eligibility["requires"][0]["any_of"] == ["in_addiction_treatment"]
    assert "prison_mother_baby_unit" in cat.get("new_beginnings").eligibility["requires"][0]["any_of"]


def test_evidence_carries_effect_sizes_where_reported() -> None:
    cat = load_catalogue()
    abc_studies = cat.get("abc").evidence_dict()["studies"]
    assert any("32% vs 57%" in s.get("effect_size", "") for s in abc_studies)
    vipp = cat.get("vipp_sd").evidence_dict()["studies"][0]
    assert "r = .23" in vipp["effect_size"]


def _broken(doc: dict, index: int, edit) -> dict:
    bad = copy.deepcopy(doc)
    edit(bad["programmes"][index])
    return bad


@pytest.mark.parametrize(("edit", "programme", "field", "reason"), [
    (lambda p: p.update(pathways=["moon_pathway"]), "abc", "pathways[0]", "unknown pathway"),
    (lambda p: p["eligibility"].update(window={"start": {"age_months": 24},
                                               "end": {"age_months": 6}}),
     "abc", "eligibility.window", "starts"),
    (lambda p: p.pop("dose"), "abc", "dose", "required"),
    (lambda p: p["eligibility"]["requires"][0]["any_of"].append("unicorns"), "abc",
     "eligibility.requires[0].any_of[7]", "unknown factor"),
    (lambda p: p.update(tiers=["intensive"]), "abc", "tiers[0]", "is not one of"),
    (lambda p: p["evidence"].update(strength=9), "abc", "evidence.strength", "maximum"),
    (lambda p: p.update(colour="blue"), "abc", "colour", "is not a field of the catalogue"),
    (lambda p: p["eligibility"]["window"]["start"].update(gestation_weeks=50), "abc",
     "eligibility.window.start", None),
    # issue 10: every programme states its trial population and delivery, validated
    (lambda p: p.pop("trial_population"), "abc", "trial_population", "required"),
    (lambda p: p["trial_population"].update(settings=["hospital"]), "abc",
     "trial_population.settings[0]", "is not one of"),
    (lambda p: p["trial_population"].update(ages={"start": {"age_months": 30},
                                                  "end": {"age_months": 6}}),
     "abc", "trial_population.ages", "tested ages start"),
    (lambda p: p["trial_population"].update(exclusions=[{"any_of": ["unicorns"],
                                                         "label": "unicorn trial"}]),
     "abc", "trial_population.exclusions[0].any_of[0]", "unknown factor"),
    (lambda p: p["delivery"].pop("group"), "abc", "delivery.group", "required"),
])
def test_validation_errors_name_file_programme_and_field(doc, edit, programme, field, reason) -> None:
    bad = _broken(doc, 0, edit)
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(bad, source="service.yaml")
    err = info.value
    assert err.file == "service.yaml" and err.programme == programme
    assert err.field is not None and err.field.startswith(field)
    if reason:
        assert reason in str(err)


def test_duplicate_ids_and_bad_yaml(doc, tmp_path: Path) -> None:
    bad = copy.deepcopy(doc)
    bad["programmes"][1]["id"] = "abc"
    with pytest.raises(CatalogueError, match="duplicate programme id"):
        parse_catalogue(bad)
    path = tmp_path / "cat.yaml"
    path.write_text("programmes: [unclosed")
    with pytest.raises(CatalogueError, match="not valid YAML") as info:
        load_catalogue(path)
    assert str(path) in str(info.value)


def test_a_service_catalogue_file_can_be_loaded(doc, tmp_path: Path) -> None:
    small = {"version": 1, "programmes": doc["programmes"][:2]}
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(small))
    assert load_catalogue(path).ids == ["abc", "mellow_babies"]
