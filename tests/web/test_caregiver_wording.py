"""Which wording a caregiver's form shows (issue 13): validated before sample, samples only
when switched on (the demo), English with a note when their language has no pack."""

from __future__ import annotations

from attunement.web import content as domain


def test_phq9_answers_are_words_a_parent_understands() -> None:
    form = domain.instrument_form("phq9", {})
    assert form.labels_from_pack and not form.sample and form.language == "en"
    assert [c.text for c in form.items[0].choices] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day"]
    assert form.instructions and form.instructions.startswith("Over the last 2 weeks")


def test_sample_wording_only_when_switched_on() -> None:
    live = domain.instrument_form("epds", {})
    assert not live.sample and not live.labels_from_pack  # project short labels, marked
    demo = domain.instrument_form("epds", {}, samples=True)
    assert demo.sample and demo.labels_from_pack
    assert "option" not in " ".join(c.text for i in demo.items for c in i.choices).lower()
    licensed = domain.instrument_form("epds", {"epds": {n: f"L{n}" for n in range(1, 11)}},
                                      samples=True)
    assert not licensed.sample and licensed.items[0].label == "L1"  # licensed beats sample


def test_a_language_without_a_pack_falls_back_to_english() -> None:
    form = domain.instrument_form("phq9", {}, "es")
    assert form.language == "en" and form.asked_language == "es" and not form.sample
    demo = domain.instrument_form("phq9", {}, "ar", samples=True)
    assert demo.language == "ar" and demo.direction == "rtl" and demo.sample
    words = domain.caregiver_words("ar")
    assert words["dir"] == "rtl" and words["lang"] == "ar"
    assert domain.caregiver_words("xx")["lang"] == "en"
