"""One way to validate clinical content (attunement.content) and one vocabulary.

Each test of a defect names what the old hand-written checks did with the same file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _factors(tmp_path: Path, **changes: object) -> Path:
    """The shipped factors file with ``changes`` made to its first factor."""
    doc = yaml.safe_load((ROOT / "src/attunement/risk/factors.yaml").read_text(encoding="utf-8"))
    doc["factors"][0].update(changes)
    return _write(tmp_path, "factors.yaml", yaml.safe_dump(doc))


def test_every_content_error_is_one_content_error() -> None:
    from attunement.cascade import CascadeError
    from attunement.content import ContentError
    from attunement.instruments import DefinitionError as InstrumentDefinitionError
    from attunement.interventions.catalogue import CatalogueError
    from attunement.risk import FamilyError
    from attunement.risk.definitions import DefinitionError as RiskDefinitionError
    from attunement.vocabulary import VocabularyError

    assert InstrumentDefinitionError is RiskDefinitionError
    for cls in (InstrumentDefinitionError, CatalogueError, FamilyError, VocabularyError,
                CascadeError):
        assert issubclass(cls, ContentError) and issubclass(cls, ValueError)


def test_the_error_reads_file_path_reason() -> None:
    from attunement.content import ContentError

    err = ContentError("f.yaml", "items[3].scores", "why")
    assert str(err) == "f.yaml: items[3].scores: why"
    assert (err.file, err.path, err.reason) == ("f.yaml", "items[3].scores", "why")


def test_yaml_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    from attunement.content import ContentError, load_yaml

    path = _write(tmp_path, "x.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ContentError, match=r"x\.yaml: line \d+: not valid YAML") as info:
        load_yaml(path)
    assert info.value.file == str(path)


def test_validate_reports_the_first_problem_and_how_many_more() -> None:
    from attunement.content import ContentError, validate

    doc = {"measures": [{"instrument": "x", "score": "s", "source": "t", "threshold": -1,
                         "lower_is_better": "yes"}]}
    with pytest.raises(ContentError) as info:
        validate(doc, "reliable_change", file="rc.yaml")
    assert info.value.path == "measures[0].lower_is_better"
    assert info.value.reason == "expected boolean, got 'yes' (and 1 more problem(s))"


# -- defects of the hand-written factor/tier parser ------------------------------------------------
def test_a_factor_field_of_the_wrong_type_is_named_not_coerced(tmp_path: Path) -> None:
    # before: str(['a', 'b']) silently became the factor's description
    from attunement.risk import DefinitionError, load_definitions

    path = _factors(tmp_path, description=["a", "b"])
    with pytest.raises(DefinitionError, match=r"factors\.yaml: factors\[0\]\.description: "
                       r"expected string, got \['a', 'b'\]"):
        load_definitions(factors_path=path)


def test_a_tier_number_given_as_text_is_refused(tmp_path: Path) -> None:
    # before: accepted, and the profile failed later comparing a count with 'two'
    from attunement.risk import DefinitionError, load_definitions

    text = (ROOT / "src/attunement/risk/tiers.yaml").read_text(encoding="utf-8")
    path = _write(tmp_path, "tiers.yaml",
                  text.replace("with_other_factors_at_least: 2", "with_other_factors_at_least: two"))
    with pytest.raises(DefinitionError, match=r"tiers\.yaml: tiers\[0\]\.rules\[3\]\."
                       r"with_other_factors_at_least: expected integer, got 'two'"):
        load_definitions(tiers_path=path)


def test_a_recorded_answer_list_given_as_text_is_refused(tmp_path: Path) -> None:
    # before: the text was read letter by letter ("unknown recorded answer(s) ['a', 'c', ...]")
    from attunement.risk import DefinitionError, load_definitions

    text = (ROOT / "src/attunement/risk/treatment_routes.yaml").read_text(encoding="utf-8")
    path = _write(tmp_path, "routes.yaml", text.replace(
        "urgent_kinds_any: [suspected_psychosis, harm_intent]",
        "urgent_kinds_any: suspected_psychosis", 1))
    with pytest.raises(DefinitionError, match=r"routes\.yaml: routes\[0\]\.when\[0\]\."
                       r"urgent_kinds_any: expected array, got 'suspected_psychosis'"):
        load_definitions(routes_path=path)


def test_an_unknown_field_in_a_factor_is_named(tmp_path: Path) -> None:
    # before: a misspelt field (here the non-birth-parent label) was silently ignored
    from attunement.risk import DefinitionError, load_definitions

    path = _factors(tmp_path, label_not_birthparent="Depression")
    with pytest.raises(DefinitionError, match=r"factors\[0\]\.label_not_birthparent: is not a "
                       "field of the factors file"):
        load_definitions(factors_path=path)


def test_a_misspelt_reliable_change_field_is_named(tmp_path: Path) -> None:
    # before: 'rci_sorce' was ignored, so sd and reliability went unchecked against a source
    from attunement.cascade import CascadeError, load_rules

    path = _write(tmp_path, "rc.yaml", "measures:\n- {instrument: x, score: x_total, "
                  "lower_is_better: true, threshold: 4, source: s, rci_sorce: t}\n")
    with pytest.raises(CascadeError, match=r"rc\.yaml: measures\[0\]\.rci_sorce: is not a field"):
        load_rules(path)


def test_a_misspelt_text_pack_language_is_named(tmp_path: Path) -> None:
    # before: 'langauge: pl' was ignored and the Polish pack was loaded as English
    from attunement.instruments import DefinitionError
    from attunement.instruments.textpack import load_text_pack

    path = _write(tmp_path, "pack.yaml", "langauge: pl\ninstruments:\n  whooley:\n"
                  "    items: {1: a, 2: b}\n")
    with pytest.raises(DefinitionError, match=r"pack\.yaml: langauge: is not a field of a text pack"):
        load_text_pack(path)


# -- one vocabulary ----------------------------------------------------------------------------
def test_the_vocabulary_lists_roles_placements_and_the_default_schedule() -> None:
    from attunement import vocabulary as v
    from attunement.risk.family import PLACEMENTS, ROLES

    assert tuple(r.id for r in v.caregiver_roles()) == ROLES
    assert tuple(p.id for p in v.placements()) == PLACEMENTS
    assert v.birth_parent_roles() == ("birth_mother", "birth_father")
    assert [r.id for r in v.user_roles()] == ["admin", "site_lead", "practitioner", "researcher"]
    assert all(r.label and r.purpose for r in v.user_roles())
    assert [t.id for t in v.default_schedule()] == ["antenatal", "6w", "3m", "6m", "12m"]


def test_the_profile_names_instruments_as_their_definitions_do() -> None:
    # before: risk/profile.py kept its own map, which called the Whooley questions otherwise
    from attunement.instruments import list_instruments
    from attunement.risk.profile import INSTRUMENT_NAMES

    for inst in list_instruments():
        assert INSTRUMENT_NAMES[inst.id] == inst.short_name


def test_the_default_birth_parents_come_from_the_vocabulary() -> None:
    from attunement.risk import load_definitions

    assert load_definitions().birth_parent_roles == ("birth_mother", "birth_father")


def test_a_service_vocabulary_replaces_lists_and_keeps_the_rest(tmp_path: Path) -> None:
    from attunement.vocabulary import load_vocabulary

    shipped = load_vocabulary()
    doc = yaml.safe_load((ROOT / "src/attunement/vocabulary.yaml").read_text(encoding="utf-8"))
    doc["placements"] = [{"id": "birth_family", "label": "At home"},
                         {"id": "residential", "label": "Residential unit"}]
    del doc["user_roles"]
    path = _write(tmp_path, "service-vocabulary.yaml", json.dumps(doc))
    service = load_vocabulary(path)
    assert [p.id for p in service.placements] == ["birth_family", "residential"]
    assert service.user_roles == shipped.user_roles
    env = {**os.environ, "ATTUNEMENT_VOCABULARY": str(path),
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", "from attunement.risk.family import PLACEMENTS;"
                          "print(','.join(PLACEMENTS))"], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "birth_family,residential"


def test_a_service_vocabulary_with_a_bad_role_is_named(tmp_path: Path) -> None:
    from attunement.vocabulary import VocabularyError, load_vocabulary

    doc = yaml.safe_load((ROOT / "src/attunement/vocabulary.yaml").read_text(encoding="utf-8"))
    doc["caregiver_roles"].append({"id": "Grandma", "label": "Grandmother", "birth_parent": False})
    path = _write(tmp_path, "v.yaml", json.dumps(doc))
    with pytest.raises(VocabularyError, match=r"v\.yaml: caregiver_roles\[7\]\.id: 'Grandma' has "
                       "characters that are not allowed"):
        load_vocabulary(path)


def test_family_roles_follow_the_vocabulary() -> None:
    from attunement.risk import FamilyError, validate_family

    fam = {"family_id": "F1", "assessed_on": "2025-03-01", "placement": "birth_family",
           "infant": {"date_of_birth": "2025-01-01"},
           "caregivers": [{"id": "a", "role": "aunt"}]}
    with pytest.raises(FamilyError, match=r"caregivers\[0\]\.role: 'aunt' is not one of: "
                       "birth_mother, birth_father, co_parent"):
        validate_family(fam)


def test_every_shipped_schema_is_draft_2020_12() -> None:
    from attunement.content import SCHEMAS, schema

    for kind in SCHEMAS:
        assert schema(kind)["$schema"] == "https://json-schema.org/draft/2020-12/schema", kind
