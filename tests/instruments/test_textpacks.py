"""Item text packs per language (issue 13): bundled validated wording, samples marked as such,
answer wording paired with the right score, and errors that name file, item and field."""

from __future__ import annotations

import pytest

from attunement.instruments import load_instrument
from attunement.instruments.errors import DefinitionError
from attunement.instruments.textpack import (
    bundled_text_packs,
    language_direction,
    load_item_text_pack,
    load_text_pack,
    text_for,
)

# PHQ-9 as printed (Kroenke, Spitzer & Williams 2001; phqscreeners.com), typed from the form
PHQ9_ITEM_1 = "Little interest or pleasure in doing things"
PHQ9_ITEM_9 = "Thoughts that you would be better off dead or of hurting yourself in some way"
FREQUENCY = ("Not at all", "Several days", "More than half the days", "Nearly every day")


def test_bundled_validated_english_wording() -> None:
    phq9 = text_for("phq9", "en")
    assert phq9 is not None and not phq9.sample
    assert phq9.items[1] == PHQ9_ITEM_1 and phq9.items[9] == PHQ9_ITEM_9
    assert all(phq9.options[n] == FREQUENCY for n in range(1, 10))
    assert phq9.options[10][0] == "Not difficult at all"
    assert "Pfizer" in (phq9.source or "") or "Kroenke" in (phq9.source or "")
    gad7 = text_for("gad7", "en")
    assert gad7 is not None and gad7.items[1] == "Feeling nervous, anxious or on edge"
    assert all(gad7.options[n] == FREQUENCY for n in range(1, 8))
    whooley = text_for("whooley", "en")
    assert whooley is not None and whooley.options[1] == ("Yes", "No")
    assert load_instrument("whooley").item(1).scores == (1, 0)  # "Yes" scores 1


def test_samples_are_marked_and_never_validated() -> None:
    samples = [p for p in bundled_text_packs() if p.sample]
    assert {p.language for p in samples} >= {"en", "es", "ar"}
    assert all(t.sample for p in samples for t in p.instruments.values())
    assert all(not p.sample for p in bundled_text_packs() if p.file.endswith("validated.yaml"))
    epds = next(p for p in samples if "epds" in p.instruments).instruments["epds"]
    # reverse-keyed item 3: the first answer printed scores 3 and must read as the most often
    assert load_instrument("epds").item(3).scores[0] == 3
    assert epds.options[3][0].startswith("Yes, most")
    assert next(p for p in samples if p.language == "ar").direction == "rtl"


def test_direction_follows_the_script() -> None:
    assert language_direction("ar") == "rtl" and language_direction("ur-PK") == "rtl"
    assert language_direction("pl") == "ltr" and language_direction("pt-BR") == "ltr"


def _pack(tmp_path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pack.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "field", "item", "words"), [
    ("language: Polish\ninstruments: {}\n", "language", None, "not a language tag"),
    ("language: pl\ndirection: up\ninstruments: {}\n", "direction", None, "ltr"),
    ("instruments:\n  whooley:\n    items:\n      1: a\n      2: b\n      3: {text: c, options: [Tak]}\n",
     "instruments.whooley.items.3.options", 3, "1 answers given but the item has 2"),
    ("instruments:\n  whooley:\n    options: {often: [Tak, Nie]}\n    items: {1: a, 2: b}\n",
     "instruments.whooley.options", None, "no scoring key 'often'"),
    ("instruments:\n  gad7:\n    options: {frequency: [a, b, c]}\n"
     "    items: {1: a, 2: b, 3: c, 4: d, 5: e, 6: f, 7: g}\n",
     "instruments.gad7.options.frequency", 1, "3 answers given but the item has 4"),
    ("instruments:\n  whooley:\n    items: {1: a, 2: {text: ''}}\n",
     "instruments.whooley.items.2.text", 2, "non-empty"),
])
def test_a_bad_pack_is_refused_naming_file_item_and_field(tmp_path, body, field, item,
                                                           words) -> None:
    path = _pack(tmp_path, body)
    with pytest.raises(DefinitionError) as err:
        load_text_pack(path)
    assert err.value.field == field and err.value.item == item, err.value
    assert words in str(err.value) and "pack.yaml" in str(err.value)


def test_a_language_pack_and_the_old_shape_still_load(tmp_path) -> None:
    path = _pack(tmp_path, "language: pl\nsource: test\ninstruments:\n  whooley:\n"
                 "    options: {yesno: [Tak, Nie]}\n    items: {1: a, 2: b}\n")
    pack = load_text_pack(path)
    assert pack.language == "pl" and pack.direction == "ltr" and not pack.sample
    assert pack.instruments["whooley"].options == {1: ("Tak", "Nie"), 2: ("Tak", "Nie"),
                                                   3: ("Tak", "Nie")}
    assert load_item_text_pack(path) == {"whooley": {1: "a", 2: "b"}}


def _english_sample_pack():  # type: ignore[no-untyped-def]
    return next(p for p in bundled_text_packs() if p.sample and p.language == "en")


@pytest.mark.parametrize("inst_id", ["kpcs", "pbq"])
def test_the_english_sample_pack_covers_every_item_with_its_answers(inst_id: str) -> None:
    inst = load_instrument(inst_id)
    text = _english_sample_pack().instruments[inst_id]
    numbers = {item.number for item in inst.items}
    assert set(text.items) == numbers and all(text.items[n].strip() for n in numbers)
    assert set(text.options) == numbers
    for n in numbers:
        assert len(text.options[n]) == len(inst.item(n).scores), (inst_id, n)


def test_sample_answers_follow_the_scoring_order() -> None:
    pbq, kpcs = load_instrument("pbq"), load_instrument("kpcs")
    text = _english_sample_pack().instruments["pbq"]
    # item 2 is negatively keyed: its first answer scores 5 and must be the most often
    assert pbq.item(2).scores[0] == 5 and text.options[2][0] == "Always"
    assert pbq.item(1).scores[0] == 0 and text.options[1][0] == "Always"
    text = _english_sample_pack().instruments["kpcs"]
    for n in (1, 9):  # "not applicable" is the fifth answer, scored 2
        assert kpcs.item(n).scores == (0, 1, 2, 3, 2)
        assert "not apply" in text.options[n][4]
    assert text.options[2][0].startswith("Not sure") and text.options[2][3] == "Very sure"


@pytest.mark.parametrize(("inst_id", "author"), [("kpcs", "Črnčec"), ("pbq", "Brockington")])
def test_the_kpcs_and_pbq_samples_are_marked_sample(inst_id: str, author: str) -> None:
    pack = _english_sample_pack()
    text = pack.instruments[inst_id]
    assert pack.sample and text.sample
    assert (text.source or "").startswith("SAMPLE") and "not the validated" in text.source
    assert author in text.source


@pytest.mark.parametrize("inst_id", ["kpcs", "pbq"])
def test_the_sample_wording_is_shown_only_when_samples_are_on(monkeypatch, inst_id: str) -> None:
    from attunement.web.content import instrument_form
    from attunement.web.settings import Settings

    monkeypatch.delenv("ATTUNEMENT_SAMPLE_TEXT_PACKS", raising=False)
    off = Settings.from_env().sample_text_packs
    form = instrument_form(inst_id, {}, "en", samples=off)
    assert not off and not form.sample and not form.labels_from_pack
    assert [i.label for i in form.items] == [i.label for i in load_instrument(inst_id).items]
    monkeypatch.setenv("ATTUNEMENT_SAMPLE_TEXT_PACKS", "1")
    on = Settings.from_env().sample_text_packs
    form = instrument_form(inst_id, {}, "en", samples=on)
    assert on and form.sample and form.labels_from_pack
    assert all(i.from_pack and i.options_from_pack for i in form.items)
    assert (form.text_source or "").startswith("SAMPLE")
