"""The caregiver's one-time link pages in a real browser, desktop and phone (issue 13).

Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attunement.usecases import assessments as uc_assessments
from web.support import LiveServer, World, sign_in

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def _link(world: World, caregiver: str, instrument: str) -> str:
    actor = world.store.actor(world.users["practitioner"])
    return uc_assessments.create_link(world.store, actor, world.family_a, caregiver, instrument,
                                      "antenatal")


def _no_side_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("() => document.documentElement.scrollWidth")
    inner = page.evaluate("() => window.innerWidth")
    assert width <= inner, f"the page scrolls sideways: {width}px wide in a {inner}px window"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_caregiver_leaves_one_item_unanswered_and_sends(
        chromium, server: LiveServer, e2e_world: World, shots: Path,
        viewport: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    token = _link(e2e_world, "father", "phq9")
    page = chromium.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15000)
    page.goto(f"{server.url}/c/{token}")
    box = page.get_by_label("I would rather not answer this question").nth(4)
    # the box is on screen, where the parent can see and reach it
    rect = box.bounding_box()
    assert rect is not None and 0 <= rect["x"] < viewport["width"], rect
    box.focus()
    focused = page.evaluate("() => document.activeElement.getBoundingClientRect().left")
    assert 0 <= focused < viewport["width"]
    for n in (1, 2, 3, 4, 6, 7, 8, 9):
        page.check(f'input[name="item.{n}"][value="0"]')
    box.check()  # item 5 is left unanswered
    _no_side_scroll(page)
    name = "desktop" if viewport is DESKTOP else "phone"
    page.screenshot(path=str(shots / f"cg-skip-{name}.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Send my answers").click()
    assert page.get_by_role("heading", name="Thank you — your answers have been sent").is_visible()
    _no_side_scroll(page)
    page.context.close()


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SCREENS = Path("/work/screens")


def _axe(page) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                       "resultTypes": ["violations"]})
    return [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in results.response["violations"]]


def _look(page, name: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    """Screenshot (for a person to look at), no sideways scroll, no axe-core violation."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    if SCREENS.is_dir():
        page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)
    _no_side_scroll(page)
    assert _axe(page) == [], name


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_phq9_shows_its_validated_wording_and_answers(chromium, server: LiveServer,
                                                      e2e_world: World, shots: Path,
                                                      viewport: dict[str, int]
                                                      ) -> None:  # type: ignore[no-untyped-def]
    token = _link(e2e_world, "father", "phq9")
    page = chromium.new_context(viewport=viewport).new_page()
    page.goto(f"{server.url}/c/{token}")
    text = page.locator("main").inner_text()
    assert "Over the last 2 weeks, how often have you been bothered" in text
    assert "Little interest or pleasure in doing things" in text
    assert "Thoughts that you would be better off dead or of hurting yourself in some way" in text
    answers = page.locator('fieldset#f-item-1 .option label').all_inner_texts()
    assert answers == ["Not at all", "Several days", "More than half the days",
                       "Nearly every day"]
    assert "Short labels" not in text and "option" not in " ".join(answers).lower()
    _look(page, "cg-phq9-" + ("desktop" if viewport is DESKTOP else "phone"), shots)
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_released_result_reaches_the_caregiver_in_their_language(
        chromium, server: LiveServer, e2e_world: World, shots: Path,
        viewport: dict[str, int]) -> None:  # type: ignore[no-untyped-def]

    name = "desktop" if viewport is DESKTOP else "phone"
    fid = e2e_world.family_a
    page = chromium.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15000)
    sign_in(page, server.url)
    # the practitioner records the father's language (Spanish) and that he needs an interpreter
    page.goto(f"{server.url}/families/{fid}")
    page.get_by_label("Language of father's pages").fill("es")
    page.locator("#interp-father").check()
    page.get_by_role("button", name="Save for father").click()
    page.wait_for_url("**/families/*")
    flag = page.locator("#interpreter-flag")
    assert flag.is_visible() and "father (es)" in flag.inner_text()
    page.goto(f"{server.url}/")  # the caseload shows it too
    assert "Interpreter needed: father (es)" in page.locator("main table").inner_text()
    page.goto(f"{server.url}/families/{fid}")
    # the father answers his PHQ-9 through his link
    token = _link(e2e_world, "father", "phq9")
    carer = chromium.new_context(viewport=viewport).new_page()
    carer.goto(f"{server.url}/c/{token}")
    assert carer.locator("html").get_attribute("lang") == "es"
    assert carer.get_by_role("heading", name="Su cuestionario").is_visible()
    for n, value in enumerate([1, 1, 1, 1, 1, 1, 0, 0, 0], start=1):
        carer.check(f'input[name="item.{n}"][value="{value}"]')
    with carer.expect_navigation():
        carer.get_by_role("button", name="Enviar mis respuestas").click()
    assert carer.get_by_role("heading", name="Gracias, sus respuestas se han enviado").is_visible()
    # his space shows nothing until the practitioner releases the result
    page.goto(f"{server.url}/families/{fid}")
    page.get_by_label("Link to a caregiver's own space").select_option("father")
    with page.expect_navigation():
        page.get_by_role("button", name="Create space link").click()
    space = page.input_value("#link")
    assert "/s/" in space
    _look(page, f"pr-space-link-{name}", shots)
    carer.goto(space)
    assert "Todavía no hay resultados" in carer.locator("main").inner_text()
    # what the schedule asks of him now, opened from his space, in his language
    with carer.expect_navigation():
        carer.get_by_role("button", name="Responder: EPDS (antenatal)").click()
    assert "/c/" in carer.url
    assert carer.get_by_role("heading", name="Su cuestionario").is_visible()
    page.goto(f"{server.url}/families/{fid}")
    page.get_by_role("button", name="Release father's PHQ9 at antenatal to their space").click()
    page.wait_for_url("**/families/*")
    assert "Result released" in page.locator(".flash").first.inner_text()
    page.locator("#voice").scroll_into_view_if_needed()
    _look(page, f"pr-family-voice-{name}", shots)
    carer.goto(space)
    main = carer.locator("main").inner_text()
    assert "Sus respuestas suman 6 de 27." in main
    assert "de 5 a 9 suelen describirse como: leve" in main
    assert "no es un diagnóstico" in main  # never a bare number without support text
    _look(carer, f"cg-space-es-{name}", shots)
    page.context.close()
    carer.context.close()


def test_right_to_left_pages_are_laid_out_right_to_left(chromium, server: LiveServer,
                                                        e2e_world: World, shots: Path
                                                        ) -> None:  # type: ignore[no-untyped-def]
    e2e_world.app.state.settings.sample_text_packs = True  # as in the demo
    store = e2e_world.store
    actor = store.actor(e2e_world.users["practitioner"])
    store.families.set_caregiver_language(actor, e2e_world.family_a, "mother", page_language="ar",
                                 interpreter_needed=True)
    token = _link(e2e_world, "mother", "phq9")
    page = chromium.new_context(viewport=PHONE).new_page()
    page.goto(f"{server.url}/c/{token}")
    html = page.locator("html")
    assert html.get_attribute("lang") == "ar" and html.get_attribute("dir") == "rtl"
    assert page.locator("fieldset#f-item-1").evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert page.get_by_role("heading", name="استبيانك").is_visible()
    assert page.locator(".sample-note").is_visible()  # a sample translation says so
    _look(page, "cg-phq9-ar-phone", shots)
    page.context.close()


def test_the_caregivers_wishes_and_session_feedback_reach_the_family_page(
        chromium, server: LiveServer, e2e_world: World, shots: Path
        ) -> None:  # type: ignore[no-untyped-def]

    store = e2e_world.store
    actor = store.actor(e2e_world.users["practitioner"])
    fid = e2e_world.family_a
    store.care.add_episode(actor, fid, "abc", "2026-10-01", caregivers=["mother"])
    token = store.care.create_space_link(actor, fid, "mother")
    carer = chromium.new_context(viewport=PHONE).new_page()
    carer.set_default_timeout(15000)
    carer.goto(f"{server.url}/s/{token}")
    carer.get_by_label("What would you like to be different").fill("More sleep; enjoy bath time")
    carer.get_by_label("How would you like us to contact you?").fill("Text messages")
    carer.get_by_label("Who else looks after your baby?").fill("My mum on Tuesdays")
    with carer.expect_navigation():
        carer.get_by_role("button", name="Send", exact=True).click()
    assert "Your practitioner will read this" in carer.locator("main").inner_text()
    for label, value in [("I felt heard", "9"), ("We talked about", "8"),
                         ("The way we worked", "12"), ("Overall", "10")]:
        carer.get_by_label(label).fill(value)
    with carer.expect_navigation():
        carer.get_by_role("button", name="Send my feedback").click()
    problem = carer.locator("#feedback .field-error").inner_text()
    assert "The way we worked suited me" in problem and "at most 10" in problem
    assert carer.get_by_label("I felt heard").input_value() == "9"  # kept
    _look(carer, "cg-space-feedback-error-phone", shots)
    carer.get_by_label("The way we worked").fill("7")
    with carer.expect_navigation():
        carer.get_by_role("button", name="Send my feedback").click()
    assert "Thank you for your feedback." in carer.locator("main").inner_text()
    told = carer.locator("#told").inner_text()  # the caregiver's own record of what they said
    assert "More sleep; enjoy bath time" in told and "The way we worked suited me: 7" in told
    _look(carer, "cg-space-forms-phone", shots)
    carer.context.close()

    page = chromium.new_context(viewport=PHONE).new_page()
    sign_in(page, server.url)
    page.goto(f"{server.url}/families/{fid}")
    told = page.locator("ul.contributions").inner_text()
    assert "More sleep; enjoy bath time" in told and "My mum on Tuesdays" in told
    assert "session feedback on abc" in told and "approach 7" in told
    page.context.close()


SUPPORT = {  # caregiver_words.yaml and the vocabulary's crisis-contact translations
    "es": ("No tiene que afrontar esto a solas", "Servicios de emergencia", "ltr",
           "Esta traducción todavía no ha sido revisada por un traductor cualificado."),
    "ar": ("لست وحدك في مواجهة هذا", "خدمات الطوارئ", "rtl",
           "لم يراجع مترجم مؤهل هذه الترجمة بعد."),
    "pl": ("You do not have to manage this alone", "Emergency services", "ltr", None),
}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["es", "ar", "pl"])
def test_the_crisis_support_box_is_in_the_caregivers_language_or_english(
        chromium, server: LiveServer, e2e_world: World, shots: Path, language: str,
        viewport: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    store = e2e_world.store
    actor = store.actor(e2e_world.users["practitioner"])
    store.families.set_caregiver_language(actor, e2e_world.family_a, "father",
                                          page_language=language, interpreter_needed=True)
    token = _link(e2e_world, "father", "phq9")
    page = chromium.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15000)
    page.goto(f"{server.url}/c/{token}")
    for n, value in enumerate([0, 0, 0, 0, 0, 0, 0, 0, 1], start=1):  # item 9 above zero
        page.check(f'input[name="item.{n}"][value="{value}"]')
    with page.expect_navigation():
        page.locator("form button[type=submit]").click()
    title, emergency, direction, unchecked = SUPPORT[language]
    box = page.locator("section.support")
    assert page.get_by_role("heading", name=title).is_visible()
    # in the page's own direction: the Arabic box is laid out right to left
    assert box.evaluate("e => getComputedStyle(e).direction") == direction
    names = box.locator("ul.contacts li strong").all_inner_texts()
    assert names[0] == emergency and len(names) == 3
    assert "116 123" in box.inner_text() and "999" in box.inner_text()  # never nothing
    if unchecked:  # said plainly while no qualified translator has checked it
        assert box.locator(".unchecked-translation").inner_text() == unchecked
    else:  # no translation in Polish: English, with nothing to mark
        assert box.locator(".unchecked-translation").count() == 0
    name = "desktop" if viewport is DESKTOP else "phone"
    _look(page, f"cg-support-{language}-{name}", shots)
    page.context.close()
    if language == "es":  # the practitioner's caseload now has the urgent flag: its badge
        # never wraps (issue 13: "the urgent badge wraps")

        staff = chromium.new_context(viewport=viewport).new_page()
        sign_in(staff, server.url)
        tags = staff.locator(".urgent-tag")
        assert tags.count() >= 2
        assert staff.evaluate("() => [...document.querySelectorAll('.urgent-tag')]"
                              ".every(t => t.getClientRects().length === 1)")
        staff.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_released_result_reaches_an_arabic_reader_right_to_left(
        chromium, server: LiveServer, e2e_world: World, shots: Path,
        viewport: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    from attunement.usecases.assessments import submit_link

    store = e2e_world.store
    actor = store.actor(e2e_world.users["practitioner"])
    fid = e2e_world.family_a
    store.families.set_caregiver_language(actor, fid, "mother", page_language="ar",
                                          interpreter_needed=True)
    done = submit_link(store, _link(e2e_world, "mother", "phq9"), [1, 1, 1, 1, 1, 1, 1, 0, 0])
    store.care.release_assessment(actor, done["id"])
    page = chromium.new_context(viewport=viewport).new_page()
    page.goto(f"{server.url}/s/{store.care.create_space_link(actor, fid, 'mother')}")
    html = page.locator("html")
    assert html.get_attribute("lang") == "ar" and html.get_attribute("dir") == "rtl"
    main = page.locator("main")
    assert main.evaluate("e => getComputedStyle(e).direction") == "rtl"
    text = main.inner_text()
    assert "مجموع إجاباتك 7 من 27." in text
    # the help line: contacts in Arabic, each name kept with its own number, numbers unbroken
    line = page.locator(".crisis-line bdi").all_inner_texts()
    assert line[0] == "خدمات الطوارئ 999" and line[1].endswith("116 123"), line
    assert page.evaluate("() => [...document.querySelectorAll('a[href^=\"tel:\"]')]"
                         ".every(a => a.getClientRects().length === 1)")
    name = "desktop" if viewport is DESKTOP else "phone"
    _look(page, f"cg-space-ar-{name}", shots)
    page.context.close()
