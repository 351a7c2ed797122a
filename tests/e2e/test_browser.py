"""The practitioner's and the caregiver's path in a real browser (Playwright + Chromium)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from web.support import PASSWORD, LiveServer, World

pytestmark = pytest.mark.browser


A11Y_CHECK = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push('no lang attribute');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  if (!document.querySelector('main')) problems.push('no main landmark');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!labelled) problems.push(`unlabelled ${el.tagName} ${el.name}`);
  }
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dup.length) problems.push('duplicate ids: ' + [...new Set(dup)].join(', '));
  for (const img of document.querySelectorAll('svg[role=img]')) {
    if (!img.querySelector('title')) problems.push('svg without title');
  }
  return problems;
}"""


def _shot(page, shots: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save a screenshot and check the page's basic accessibility structure."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    problems = page.evaluate(A11Y_CHECK)
    assert not problems, f"{name}: {problems}"


def test_practitioner_and_caregiver_journey(chromium, server: LiveServer, e2e_world: World,
                                            shots: Path) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)

    # sign in
    page.goto(f"{server.url}/")
    assert page.url.startswith(f"{server.url}/login")
    _shot(page, shots, "01-login")
    page.get_by_label("Email address").fill("pa@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")
    assert page.get_by_role("heading", name="Caseload").is_visible()

    # register a family with two caregivers, one of them the father; first with a mistake
    page.get_by_role("link", name="Register a family").click()
    page.select_option("#f-site", "Site A")
    page.fill("#f-family_id", "E2E 001")
    page.fill("#f-infant-due_date", (dt.date.today() + dt.timedelta(days=40)).isoformat())
    page.select_option("#f-caregivers-0-role", "birth_mother")
    page.fill("#f-caregivers-0-id", "mother")
    page.fill("#f-caregivers-0-name", "Robin Example (synthetic)")
    page.select_option("#f-caregivers-1-role", "birth_father")
    page.fill("#f-caregivers-1-id", "father")
    page.get_by_role("button", name="Register family").click()
    summary = page.locator(".error-summary")
    assert summary.is_visible() and "letters, digits" in summary.inner_text()
    assert page.input_value("#f-caregivers-0-name") == "Robin Example (synthetic)"  # kept
    _shot(page, shots, "02-register-family-error")
    page.fill("#f-family_id", "E2E-001")
    page.get_by_role("button", name="Register family").click()
    page.wait_for_url("**/families/*")
    assert page.get_by_role("heading", name="Family E2E-001").is_visible()

    # an EPDS for the mother with item 10 above zero
    page.select_option("#as-caregiver", "mother")
    page.select_option("#as-instrument", "epds")
    page.fill("#as-tp", "antenatal")
    page.get_by_role("button", name="Open the questionnaire").click()
    page.wait_for_url("**/assess?*")
    for n, value in enumerate([2, 2, 2, 1, 1, 2, 2, 1, 1, 1], start=1):
        page.check(f'input[name="item.{n}"][value="{value}"]')
    _shot(page, shots, "03-epds-form")
    page.get_by_role("button", name="Save answers").click()
    page.wait_for_url("**/families/*")
    assert "URGENT" in page.locator(".flash-urgent").inner_text()
    urgent = page.locator(".urgent-box")
    assert urgent.is_visible() and "same-day safety review" in urgent.inner_text()
    assert page.locator("svg.chart").count() >= 1
    section = page.locator("section[aria-labelledby=matches-title]").inner_text()
    assert "Matched interventions" in section
    # issue 10: an open urgent flag holds matching until the safety review is recorded
    held = page.locator("#matches-held")
    assert held.is_visible() and "Matching is held" in held.inner_text()
    assert page.locator("ol.matches li").count() == 0
    assert "Crisis contacts" in urgent.inner_text()
    _shot(page, shots, "04-family-urgent")

    # a one-time link for the father, completed as the caregiver in a separate browser context
    page.select_option("#ln-caregiver", "father")
    page.select_option("#ln-instrument", "epds")
    page.fill("#ln-tp", "antenatal")
    page.get_by_role("button", name="Create link").click()
    link = page.input_value("#link")
    assert "/c/" in link
    _shot(page, shots, "05-link-created")

    carer = chromium.new_context(viewport={"width": 420, "height": 860}).new_page()
    carer.goto(link)
    assert carer.get_by_role("heading", name="Your questionnaire").is_visible()
    assert "E2E-001" not in carer.content() and "Robin" not in carer.content()
    for n in range(1, 10):
        carer.check(f'input[name="item.{n}"][value="0"]')
    carer.check('input[name="item.10"][value="1"]')  # a safety answer above zero
    _shot(carer, shots, "06-caregiver-questionnaire")
    carer.get_by_role("button", name="Send my answers").click()
    assert carer.get_by_role("heading", name="Thank you — your answers have been sent").is_visible()
    support = carer.locator("section.support")
    assert support.is_visible() and "116 123" in support.inner_text()  # crisis contacts
    _shot(carer, shots, "07-caregiver-done-support")
    carer.goto(link)
    assert "already been used" in carer.content()
    carer.context.close()

    page.goto(f"{server.url}/")
    alerts = page.locator(".alert-card")  # the practitioner is alerted at once, newest first
    assert alerts.count() == 2 and "father" in alerts.first.inner_text()
    assert all("E2E-001" in alerts.nth(i).inner_text() for i in range(2))
    _shot(page, shots, "08-dashboard-urgent-first")
    page.locator("a", has_text="E2E-001").first.click()
    page.wait_for_url("**/families/*")
    assert page.locator("text=caregiver link").count() >= 1  # the father's answers arrived

    # the safety review of each alert, recorded with its outcome, releases the hold
    for _ in range(2):
        card = page.locator(".urgent-box .alert-card").first
        card.get_by_label("Action taken").fill("Phoned the same day; safety plan agreed.")
        card.get_by_label("Outcome of the safety review").select_option("safety_plan")
        card.get_by_role("button", name="Acknowledge").click()
        page.wait_for_url("**/families/*")
        assert "Alert acknowledged." in page.locator(".flash").first.inner_text()
    assert page.locator("#matches-held").count() == 0
    assert "A safety review is recorded" in page.locator(".urgent-box").inner_text()
    _shot(page, shots, "08b-family-reviewed")

    # export
    page.get_by_role("link", name="Exports").click()
    page.check("#fmt-csv")
    _shot(page, shots, "09-exports")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    text = Path(info.value.path()).read_text()
    assert "epds_total" in text.splitlines()[0]
    assert "E2E-001" not in text  # pseudonymised by default
    page.check("#id-yes")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    text = Path(info.value.path()).read_text()
    assert sum("E2E-001" in line for line in text.splitlines()) == 2  # mother and father
    context.close()


def test_api_docs_render_offline(chromium, server: LiveServer, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:")) else None)
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock", timeout=20000)
    text = page.locator("#swagger-ui").inner_text()
    assert "/api/families/{family_id}/assessments" in text
    assert not outside, f"the docs page fetched from outside: {outside}"
    page.screenshot(path=str(shots / "10-api-docs.png"))
    page.close()
