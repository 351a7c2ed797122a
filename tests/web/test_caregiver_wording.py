"""Which wording a caregiver's form shows (issue 13): validated before sample, samples only
when switched on (the demo), English with a note when their language has no pack."""

from __future__ import annotations

from attunement.usecases import assessments as uc_assessments
from attunement.web import content as domain


def test_phq9_answers_are_words_a_parent_understands() -> None:
    form = domain.instrument_form("phq9")
    assert form.labels_from_pack and not form.sample and form.language == "en"
    assert [c.text for c in form.items[0].choices] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day"]
    assert form.instructions and form.instructions.startswith("Over the last 2 weeks")


def test_sample_wording_only_when_switched_on() -> None:
    live = domain.instrument_form("epds")
    assert not live.sample and not live.labels_from_pack  # project short labels, marked
    demo = domain.instrument_form("epds", samples=True)
    assert demo.sample and demo.labels_from_pack
    assert "option" not in " ".join(c.text for i in demo.items for c in i.choices).lower()
    from attunement.instruments.textpack import InstrumentText, TextPack

    pack = TextPack("en", "ltr", False, "licence", {
        "epds": InstrumentText("epds", "en", {n: f"L{n}" for n in range(1, 11)})})
    licensed = domain.instrument_form("epds", (pack,), samples=True)
    assert not licensed.sample and licensed.items[0].label == "L1"  # licensed beats sample


def test_a_language_without_a_pack_falls_back_to_english() -> None:
    form = domain.instrument_form("phq9", (), "es")
    assert form.language == "en" and form.asked_language == "es" and not form.sample
    demo = domain.instrument_form("phq9", (), "ar", samples=True)
    assert demo.language == "ar" and demo.direction == "rtl" and demo.sample
    words = domain.caregiver_words("ar")
    assert words["dir"] == "rtl" and words["lang"] == "ar"
    assert domain.caregiver_words("xx")["lang"] == "en"


def test_answers_given_in_spanish_are_scored_with_the_spanish_cut_off_and_the_clinician_sees_it(
        tmp_path, sqlite_world) -> None:  # type: ignore[no-untyped-def]

    from fastapi.testclient import TestClient

    from attunement.web import Settings, create_app

    from .test_pages import _csrf, _epds_pack, _login

    pack = tmp_path / "epds-es.yaml"
    pack.write_text(_epds_pack("es", "Pregunta uno"))
    app = create_app(sqlite_world.store, settings=Settings(secret_key="k" * 40,
                                                           item_text_pack=pack))
    store, fid = sqlite_world.store, sqlite_world.family_a
    store.families.set_caregiver_language(store.system_actor(), fid, "father", page_language="es",
                                          interpreter_needed=False)
    store.families.set_caregiver_language(store.system_actor(), fid, "mother", page_language="pl",
                                          interpreter_needed=False)
    ten = {f"item.{n}": "1" for n in range(1, 10)} | {"item.9": "2", "item.10": "0"}
    with TestClient(app) as client:
        for caregiver in ("father", "mother"):
            token = uc_assessments.create_link(store, store.system_actor(), fid, caregiver, "epds", "3m")
            path = f"/c/{token}"
            client.cookies.clear()
            page = client.get(path)
            assert ("Pregunta uno" in page.text) is (caregiver == "father")
            # item 9 is printed in the definition's order; answer by value
            done = client.post(path, data={"csrf_token": _csrf(page.text), **ten})
            assert done.status_code == 200, done.text
        _login(client)
        family = client.get(f"/families/{fid}").text
    stored = {a["caregiver"]: a for a in store.assessments.list_assessments(
        store.system_actor(), fid) if a["instrument"] == "epds" and a["time_point"] == "3m"}
    father, mother = stored["father"]["scores"], stored["mother"]["scores"]
    assert father["epds_total"] == mother["epds_total"] == 10
    assert father["epds_possible_depression"] is False and father["epds_cutoffs_language"] == "es"
    # the mother's Polish page had no Polish EPDS: she answered in English, default cut-off
    assert mother["epds_possible_depression"] is True and "epds_cutoffs_language" not in mother
    assert family.count('class="hint cutoff-language"') == 1
    assert "≥ 11 for answers in es" in family and "Ascaso" in family and "Barcelona" in family


def test_crisis_contacts_are_shown_in_the_caregivers_language_marked_unchecked_else_english(
        ) -> None:
    from attunement.vocabulary import load_vocabulary

    contacts = load_vocabulary().contacts()
    for language, direction in (("es", "ltr"), ("ar", "rtl")):
        shown = domain.crisis_contacts_in(contacts, language)
        assert [c["phone"] for c in shown] == ["999", "116 123", "111"]
        assert all(c["lang"] == language and c["dir"] == direction for c in shown)
        assert not any(c["checked"] for c in shown)  # the truth: no translator has checked them
        words = domain.caregiver_words(language)
        assert words["support_checked"] is False and words["unchecked_translation"]
    english = domain.crisis_contacts_in(contacts, "pl")
    assert [c["name"] for c in english] == [c["name"] for c in contacts]
    assert all(c["lang"] == "en" and c["checked"] for c in english)
    assert domain.caregiver_words("es-MX")["lang"] == "es"  # a regional tag uses its language
    # every support phrase exists in each language: no English sentence under lang="es"
    for language in domain.caregiver_languages():
        own = domain._caregiver_words()[language]
        assert {"support_title", "support_unanswered", "support_answers",
                "support_contact_now", "support_checked"} <= set(own), language


def test_a_service_contacts_file_with_a_translation_must_say_whether_it_was_checked(
        tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from attunement.vocabulary import VocabularyError, load_vocabulary

    good = tmp_path / "contacts.yaml"
    good.write_text("- name: Anytown crisis line\n  phone: '01234 000000'\n  translations:\n"
                    "    es: {name: Línea de crisis de Anytown, checked: true}\n")
    shown = domain.crisis_contacts_in(load_vocabulary().with_crisis_contacts(good).contacts(),
                                      "es")
    assert shown[0]["name"] == "Línea de crisis de Anytown" and shown[0]["checked"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: Anytown crisis line\n  phone: '01234 000000'\n  translations:\n"
                   "    es: {name: Línea de crisis de Anytown}\n")
    with pytest.raises(VocabularyError, match=r"bad.yaml: \[0\]\.translations\.es\.checked"):
        load_vocabulary().with_crisis_contacts(bad)


def test_a_correction_keeps_the_cut_offs_of_the_language_first_answered_in(sqlite_world) -> None:  # type: ignore[no-untyped-def]
    # a correction was rescored with the default cut-offs, so a Spanish-language EPDS of 10
    # turned "possible depression" on merely because a typo was corrected
    store, fid = sqlite_world.store, sqlite_world.family_a
    actor = store.system_actor()
    token = uc_assessments.create_link(store, actor, fid, "father", "epds", "3m")
    answers = [1] * 8 + [2, 0]
    first = uc_assessments.submit_link(store, token, answers, language="es", time_point="3m")
    assert first["scores"]["epds_cutoffs_language"] == "es"
    assert first["scores"]["epds_possible_depression"] is False
    fixed = uc_assessments.correct_assessment(store, actor, first["id"], answers,
                                              reason="item 3 typed in the wrong box")
    assert fixed["scores"]["epds_cutoffs_language"] == "es"
    assert fixed["scores"]["epds_cutoffs_period"] == first["scores"]["epds_cutoffs_period"]
    assert fixed["scores"]["epds_possible_depression"] is False
    # and one answered in English keeps the default
    token = uc_assessments.create_link(store, actor, fid, "mother", "epds", "3m")
    first = uc_assessments.submit_link(store, token, answers)
    fixed = uc_assessments.correct_assessment(store, actor, first["id"], answers, reason="typo")
    assert "epds_cutoffs_language" not in fixed["scores"]
    assert fixed["scores"]["epds_possible_depression"] is True
