"""Cut-offs per language (issue 13): data with their sources, checked against the definitions,
used when the answers were given in that language and period, and never otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from attunement.content import DefinitionError
from attunement.instruments.language_cutoffs import (
    bundled_language_cutoffs,
    language_cutoffs,
    load_language_cutoffs,
)
from attunement.usecases.assessments import scorer_in, time_point_period

GOOD = """cutoffs:
  - instrument: epds
    language: pl
    cutoff: possible_depression
    op: ">="
    value: 12
    period: any
    population: a test population of enough words
    source: a test source of enough words
    evidence: "[1]"
"""


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cutoffs.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_bundled_cut_offs_are_the_published_ones_with_source_and_population() -> None:
    entries = {(c.instrument, c.language, c.period): c for c in bundled_language_cutoffs()}
    # Ascaso et al. 2003 Med Clin (Barc) 120:326-329: 10/11 to identify the population at risk
    es = entries["epds", "es", "postnatal"]
    assert (es.cutoff, es.op, es.value, es.published) == ("possible_depression", ">=", 11, "10/11")
    assert "Med Clin (Barc) 120(9):326" in es.source and "Barcelona" in es.population
    # Naja et al. 2019 BMJ Open 9:e030365: EPDS >13 in pregnancy (Qatar)
    ar = entries["epds", "ar", "antenatal"]
    assert (ar.cutoff, ar.value, ar.published) == ("probable_depression", 14, ">13")
    assert "BMJ Open 9(9):e030365" in ar.source and "pregnant" in ar.population
    assert all(c.population and c.source and c.evidence for c in entries.values())


def test_a_cut_off_applies_only_in_its_language_and_period() -> None:
    assert [c.language for c in language_cutoffs("epds", "es-MX", "postnatal")] == ["es"]
    assert language_cutoffs("epds", "es", "antenatal") == []
    assert language_cutoffs("epds", "es", None) == []  # a study's own time point: not known
    assert language_cutoffs("epds", "en", "postnatal") == []
    assert language_cutoffs("phq9", "es", "postnatal") == []
    assert language_cutoffs("epds", None, "postnatal") == []
    assert (time_point_period("antenatal"), time_point_period("6w"),
            time_point_period("visit 3")) == ("antenatal", "postnatal", None)


def test_scoring_uses_the_cut_off_of_the_language_the_answers_were_given_in() -> None:
    ten = [1, 1, 1, 1, 1, 1, 1, 1, 2, 0]  # total 10: possible depression by the default (>= 10)
    default = scorer_in("en", "6w")("epds", ten, "scores", None)
    assert default.scores["epds_possible_depression"] is True
    assert "epds_cutoffs_language" not in default.scores
    spanish = scorer_in("es", "6w")("epds", ten, "scores", None)
    assert spanish.scores["epds_possible_depression"] is False
    assert (spanish.scores["epds_cutoffs_language"], spanish.scores["epds_cutoffs_period"]) == \
        ("es", "postnatal")
    eleven = scorer_in("es", "6w")("epds", [2, 1, 1, 1, 1, 1, 1, 1, 2, 0], "scores", None)
    flag = next(f for f in eleven.flags if f.id == "epds_possible_depression")
    assert "Ascaso" in flag.source and "Barcelona" in flag.source and "in es" in flag.reason
    # the safety item is never touched by a language's cut-offs
    harm = scorer_in("es", "6w")("epds", [0] * 9 + [1], "scores", None)
    assert any(f.kind == "safety" for f in harm.flags)
    # Arabic in pregnancy: probable depression from 14, not 13
    thirteen = [2, 2, 1, 1, 1, 1, 1, 1, 3, 0]
    assert scorer_in("ar", "antenatal")("epds", thirteen, "scores", None) \
        .scores["epds_probable_depression"] is False
    assert scorer_in("ar", "6w")("epds", thirteen, "scores", None) \
        .scores["epds_probable_depression"] is True


@pytest.mark.parametrize(("change", "field", "words"), [
    (("instrument: epds", "instrument: nope"), "cutoffs[0].instrument", "unknown instrument"),
    (("cutoff: possible_depression", "cutoff: self_harm"), "cutoffs[0].cutoff",
     "no configurable cut-off 'self_harm'"),
    (('op: ">="', 'op: ">"'), "cutoffs[0].op", "definition's operator"),
    (("value: 12", "value: 31"), "cutoffs[0].value", "outside the total range"),
    (("language: pl", "language: Polish"), "cutoffs[0].language", "not a language tag"),
    (("    population: a test population of enough words\n", ""), "cutoffs[0]", "population"),
])
def test_a_bad_entry_is_refused_naming_file_entry_and_field(tmp_path, change, field,
                                                            words) -> None:
    path = _file(tmp_path, GOOD.replace(*change))
    with pytest.raises(DefinitionError) as err:
        load_language_cutoffs(path)
    assert words in str(err.value) and "cutoffs.yaml" in str(err.value)
    assert f"{field}" in str(err.value)


def test_two_entries_for_the_same_language_cut_off_and_period_are_refused(tmp_path) -> None:
    body = GOOD + GOOD.split("cutoffs:\n", 1)[1]
    with pytest.raises(DefinitionError, match=r"cutoffs\[1\].*a second entry"):
        load_language_cutoffs(_file(tmp_path, body))
    assert len(load_language_cutoffs(_file(tmp_path, GOOD))) == 1
