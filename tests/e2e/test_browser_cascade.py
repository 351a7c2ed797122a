"""Referrals on the family page and the care cascade dashboard in a real browser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from attunement.usecases import assessments as uc_assessments
from web.support import LiveServer, World, sign_in

from .test_browser import _shot

pytestmark = pytest.mark.browser


def test_referral_and_cascade_dashboard(chromium, server: LiveServer, e2e_world: World,
                                        shots: Path) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, server.url)

    # FAM-A's mother screened negative at registration; a later positive EPDS, then a referral
    system = e2e_world.store.system_actor()
    today = dt.date.today()
    uc_assessments.submit_assessment(e2e_world.store, system, e2e_world.family_a, "mother", "epds", "antenatal",
                                   [2, 2, 2, 2, 2, 1, 1, 1, 1, 0],
                                   completed_on=today.isoformat())
    page.goto(f"{server.url}/families/{e2e_world.family_a}")
    page.select_option("#rf-target", "route:talking_therapies")
    page.select_option("#rf-cg", "mother")
    page.get_by_role("button", name="Record referral").click()
    page.wait_for_url("**/families/*")
    section = page.locator("#referrals")
    assert "NHS Talking Therapies" in section.inner_text()
    assert "offered" in section.inner_text()
    page.get_by_role("button", name="Record").first.click()  # the next stage: accepted
    page.wait_for_url("**/families/*")
    assert "accepted" in page.locator("#referrals").inner_text()
    _shot(page, shots, "20-family-referrals")

    page.get_by_role("link", name="Care cascade").click()
    page.wait_for_url("**/cascade")
    assert page.get_by_role("heading", name="Care cascade", exact=True).is_visible()
    row = page.locator("#cascade-stages tr", has_text="All sites")
    cells = [row.locator(f'td[data-stage="{s}"]').inner_text().split()[0]
             for s in ("screened", "positive", "referred", "engaged")]
    assert cells == ["1", "1", "1", "0"]  # only Site A: FAM-A's mother
    assert page.locator("svg.cascade-chart title", has_text="Site A").count() == 1
    _shot(page, shots, "21-cascade-dashboard")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(info.value.path()).read_text()
    assert text.startswith("section,site,dimension,group,stage,metric,value")
    context.close()
