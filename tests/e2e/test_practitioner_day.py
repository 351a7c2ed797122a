"""The practitioner's and researcher's pages in a real browser, at desktop and phone width:
consent recorded in the UI then a randomisation, no horizontal scrolling at 390 px, and
axe-core (WCAG 2.2 AA) on every page as each role, caregiver pages included.

One server and one populated database serve the whole module (the browser is per session).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families
from web.support import (
    PASSWORD,
    LiveServer,
    World,
    family_payload,
    make_template,
    open_world,
    sign_in,
)

pytestmark = pytest.mark.browser

SCREENS = Path("/work/screens")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
EMAILS = {"admin": "admin@example.org", "practitioner": "pa@example.org",
          "site_lead": "lead@example.org", "researcher": "res@example.org"}
FAMILY_PAGE = re.compile(r"/families/\d+(#.*)?$")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@dataclass
class Site:
    world: World
    url: str
    study: int
    family_new: dict[int, int]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    folder = Path(tempfile.mkdtemp(prefix="attunement-e2e-day-"))
    template = make_template("sqlite", f"sqlite:///{folder / 'template.db'}",
                             folder / "identifier.key")
    url, key = template.clone(_mk(folder / "run"))
    world = open_world(template, url, key)
    store = world.store
    system = store.system_actor()
    study = next(s["id"] for s in store.accounts.list_studies(system) if s["name"] == "Study S")
    from attunement.usecases.trials import Trials

    Trials(store).define_design(store.actor(world.users["admin"]),
                                     study, {"method": "blocks", "arms": ["usual care", "VIPP"],
                                             "block_sizes": [2], "strata": ["site"]})
    # one family per viewport for the consent-then-randomise walk (an allocation is final)
    fams = {}
    for width in (DESKTOP["width"], PHONE["width"]):
        fams[width] = uc_families.register_family(store,
            system, family_payload(f"RND-{width}", "Site A", study="Study S"))["id"]
    with LiveServer(world.app) as live:
        yield Site(world, live.url, study, fams)
    world.store.close()


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _login(chromium: Any, site: Site, role: str, viewport: dict[str, int]) -> Any:
    context = chromium.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    return sign_in(page, site.url, EMAILS[role])


WIDEST = """() => {
  const over = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)
    - window.innerWidth;
  if (over <= 0) return null;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.right > window.innerWidth + 1 && ![...e.children].some(
      c => c.getBoundingClientRect().right > window.innerWidth + 1);
  }).slice(0, 4).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
    + ' "' + (e.textContent || '').trim().slice(0, 30) + '"');
  return `${over} px (${wide.join(', ')})`;
}"""


def _horizontal_overflow(page: Any) -> str | None:
    """None, or how far the page is wider than the viewport and the elements that stick out."""
    return page.evaluate(WIDEST)  # type: ignore[no-any-return]


def _axe(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                       "resultTypes": ["violations"]})
    out = []
    for v in results.response["violations"]:
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"][:3]]
        out.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return out


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_consent_recorded_in_the_ui_then_randomised(chromium: Any, site: Site,
                                                    viewport: dict[str, int]) -> None:
    fid = site.family_new[viewport["width"]]
    page = _login(chromium, site, "practitioner", viewport)
    try:
        page.goto(f"{site.url}/families/{fid}/randomise")
        assert "No active" in page.locator("main").inner_text()  # a dead end without consent
        page.goto(f"{site.url}/families/{fid}")
        form = page.locator("#consent-form")
        form.get_by_label("Consent to").select_option("research")
        form.get_by_label("Version of the information sheet").fill("v2.1 2026-01")
        form.get_by_role("button", name="Record consent").click()
        page.wait_for_url(f"**/families/{fid}*")
        assert "Consent recorded" in page.locator(".flash").first.inner_text()
        consent = page.locator("section[aria-labelledby=consent-title]").inner_text()
        assert "research (form v2.1 2026-01)" in consent
        page.screenshot(path=str(_mk(SCREENS) / f"consent-{viewport['width']}.png"),
                        full_page=True)
        page.get_by_role("link", name="Randomisation").click()
        page.wait_for_url(f"**/families/{fid}/randomise")
        page.get_by_label("The family is eligible, has consented").check()
        page.get_by_role("button", name="Randomise").click()
        page.wait_for_url(f"**/families/{fid}/randomise")
        heading = page.locator("#alloc-title").inner_text()
        assert heading.startswith("Allocated to") and ("VIPP" in heading or "usual care" in heading)
        page.screenshot(path=str(SCREENS / f"randomised-{viewport['width']}.png"), full_page=True)
    finally:
        page.context.close()


def test_consent_withdrawn_in_the_ui(chromium: Any, site: Site) -> None:
    store, system = site.world.store, site.world.store.system_actor()
    fid = uc_families.register_family(store, system, family_payload("WDR-1", "Site A"))["id"]
    store.care.add_consent(system, fid, kind="recording", version="3", given_on=dt.date.today(),
                      caregiver="mother")
    page = _login(chromium, site, "practitioner", DESKTOP)
    try:
        page.goto(f"{site.url}/families/{fid}")
        page.locator("summary", has_text="Consent is withdrawn").click()
        form = page.locator("#withdraw-form")
        form.get_by_role("button", name="Record the withdrawal").click()  # no reason: refused
        assert page.locator("#cw-reason:invalid").count() == 1
        form.get_by_label("Reason").fill("no longer wishes to be filmed")
        form.get_by_role("button", name="Record the withdrawal").click()
        page.wait_for_url(f"**/families/{fid}*")
        text = page.locator("section[aria-labelledby=consent-title]").inner_text()
        assert f"withdrawn {dt.date.today().isoformat()}" in text
        assert store.families.get_family(system, fid)["consents"][0]["active"] is False
    finally:
        page.context.close()


def _pages(site: Site, role: str) -> list[str]:
    fa = site.world.family_a
    common = ["/", "/account", "/cascade"]
    if role == "researcher":
        return [*common, "/exports", "/exports/jobs", "/trials", f"/studies/{site.study}/trial"]
    pages = [*common, "/families/new", f"/families/{fa}", f"/families/{fa}/observations",
             f"/families/{fa}/randomise",
             f"/families/{fa}/assess?caregiver=mother&instrument=epds"
             "&time_point=antenatal",
             "/trials", f"/studies/{site.study}/trial"]
    if role in ("admin", "site_lead"):
        pages += ["/admin", "/audit", f"/admin/users/{site.world.users['practitioner']}"]
    if role == "admin":
        pages += ["/exports", "/exports/jobs"]
    return pages


@pytest.mark.parametrize("role", ["practitioner", "site_lead", "admin", "researcher"])
def test_every_page_fits_a_phone_and_passes_axe(chromium: Any, site: Site, role: str) -> None:
    problems: list[str] = []
    for viewport in (PHONE, DESKTOP):
        page = _login(chromium, site, role, viewport)
        try:
            for path in _pages(site, role):
                response = page.goto(f"{site.url}{path}")
                assert response is not None and response.status == 200, (path, response)
                if viewport is PHONE and (over := _horizontal_overflow(page)):
                    problems.append(f"{path} at 390 px scrolls sideways by {over}")
                problems += [f"{path} @{viewport['width']}: {v}" for v in _axe(page)]
        finally:
            page.context.close()
    assert not problems, "\n".join(problems)


def test_signed_out_and_caregiver_pages_fit_a_phone_and_pass_axe(chromium: Any,
                                                                 site: Site) -> None:
    store, system = site.world.store, site.world.store.system_actor()
    link = uc_assessments.create_link(store, system, site.world.family_a, "father", "epds",
                                      "antenatal")
    token = link["token"] if isinstance(link, dict) else str(link)
    problems: list[str] = []
    for viewport in (PHONE, DESKTOP):
        context = chromium.new_context(viewport=viewport)
        page = context.new_page()
        try:
            for path in ("/login", f"/c/{token}", "/c/not-a-real-token", "/reset/not-a-token",
                         "/s/not-a-real-token"):
                page.goto(f"{site.url}{path}")
                if viewport is PHONE and (over := _horizontal_overflow(page)):
                    problems.append(f"{path} at 390 px scrolls sideways by {over}")
                problems += [f"{path} @{viewport['width']}: {v}" for v in _axe(page)]
        finally:
            context.close()
    assert not problems, "\n".join(problems)


def test_screenshots_of_the_main_pages(chromium: Any, site: Site) -> None:
    """Screenshots for a person to look at (desktop and phone); the checks are above."""
    fa = site.world.family_a
    for viewport in (DESKTOP, PHONE):
        page = _login(chromium, site, "practitioner", viewport)
        try:
            for name, path in (("caseload", "/"), ("family", f"/families/{fa}"),
                               ("register", "/families/new")):
                page.goto(f"{site.url}{path}")
                if name == "family":  # chart text readable at any width, the y axis named
                    sizes = page.eval_on_selector_all(
                        "svg.chart text", "els => els.map(e => e.getBoundingClientRect().height)")
                    assert sizes and min(sizes) >= 11, sizes
                    assert page.locator("svg.chart .axis-label").first.inner_html() == "Score"
                page.screenshot(path=str(_mk(SCREENS) / f"{name}-{viewport['width']}.png"),
                                full_page=True)
        finally:
            page.context.close()
        page = _login(chromium, site, "admin", viewport)
        try:
            for name, path in (("audit", "/audit"), ("trial", f"/studies/{site.study}/trial")):
                page.goto(f"{site.url}{path}")
                page.screenshot(path=str(SCREENS / f"{name}-{viewport['width']}.png"),
                                full_page=True)
        finally:
            page.context.close()


FOCUSED = """s => {
  const el = document.activeElement;
  if (!el || !el.matches(s)) return null;
  const st = getComputedStyle(el);
  return st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0;
}"""


def _tab_to(page: Any, selector: str, limit: int = 300) -> None:
    """Press Tab until the element matching ``selector`` has the focus, which must be visible."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        visible = page.evaluate(FOCUSED, selector)
        if visible is not None:
            assert visible, f"{selector} has the focus but no visible focus indicator"
            return
    pytest.fail(f"Tab never reached {selector}")


def _answer(page: Any, item: int, value: str) -> None:
    """Reach an item's radio group with Tab, then choose ``value`` with the arrow keys."""
    _tab_to(page, f'input[name="item.{item}"]')
    page.keyboard.press("Space")
    for _ in range(8):
        if page.evaluate("() => document.activeElement.value") == value:
            return
        page.keyboard.press("ArrowDown")
    pytest.fail(f"item {item}: option {value} not reachable with the arrow keys")


def test_keyboard_only_register_assess_acknowledge(chromium: Any, site: Site) -> None:
    """The practitioner's main tasks with the keyboard alone, the focus always visible."""
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    kb = page.keyboard
    try:
        page.goto(f"{site.url}/login")
        _tab_to(page, "input[type=email]")
        kb.type(EMAILS["practitioner"])
        _tab_to(page, "input[type=password]")
        kb.type(PASSWORD)
        kb.press("Enter")
        page.wait_for_url(f"{site.url}/")
        # register a family
        _tab_to(page, 'a[href="/families/new"]')
        kb.press("Enter")
        page.wait_for_url("**/families/new")
        _tab_to(page, "#f-site")
        kb.type("Site A")
        _tab_to(page, "#f-family_id")
        kb.type("KB-001")
        _tab_to(page, "#f-placement")
        kb.press("ArrowDown")
        due = dt.date.today() + dt.timedelta(days=40)
        _tab_to(page, "#f-infant-due_date")
        kb.type(f"{due.month:02d}{due.day:02d}{due.year}")
        _tab_to(page, "#f-caregivers-0-role")
        kb.type("Birth mother")
        _tab_to(page, "#f-caregivers-0-id")
        kb.type("mother")
        _tab_to(page, 'button[name="save"]')
        kb.press("Enter")
        page.wait_for_url(FAMILY_PAGE)
        assert page.get_by_role("heading", name="Family KB-001").is_visible(), \
            page.locator(".error-summary").all_inner_texts()
        # record an assessment (EPDS, item 10 above zero: an urgent alert)
        _tab_to(page, "#as-instrument")
        kb.type("Edinburgh")
        assert page.input_value("#as-instrument") == "epds"
        _tab_to(page, "#as-tp")  # no schedule for this family: nothing is offered by default
        assert page.input_value("#as-tp") == ""
        kb.type("antenatal")
        _tab_to(page, "#new-assessment button")
        kb.press("Enter")
        page.wait_for_url("**/assess?*")
        for item, value in enumerate(["0"] * 9 + ["1"], start=1):
            _answer(page, item, value)
        _tab_to(page, "button[type=submit]:not([formnovalidate])")
        kb.press("Enter")
        page.wait_for_url(FAMILY_PAGE)
        assert page.locator(".urgent-box .alert-card").count() == 1
        # acknowledge the alert with the safety review's note and outcome
        _tab_to(page, ".urgent-box input[name=note]")
        kb.type("Phoned the same day; safety plan agreed.")
        _tab_to(page, ".urgent-box select[name=outcome]")
        kb.press("ArrowDown")
        _tab_to(page, ".urgent-box .ack-form button")
        with page.expect_navigation():
            kb.press("Enter")
        assert "Alert acknowledged." in page.locator(".flash").first.inner_text()
    finally:
        context.close()
