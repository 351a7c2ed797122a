"""The caregiver's one-time link pages in a real browser, desktop and phone (issue 13).

Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from web.support import LiveServer, World

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def _link(world: World, caregiver: str, instrument: str) -> str:
    actor = world.store.actor(world.users["practitioner"])
    return world.store.create_link(actor, world.family_a, caregiver, instrument, "antenatal")


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
    page.get_by_role("button", name="Send my answers").click()
    assert page.get_by_role("heading", name="Thank you — your answers have been sent").is_visible()
    _no_side_scroll(page)
    page.context.close()
