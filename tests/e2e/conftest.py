"""Browser end-to-end fixtures: a live uvicorn server and Debian's Chromium via Playwright.

Outside CI a missing /usr/bin/chromium skips these tests; in CI (``CI=true``) it fails them.
Screenshots of the key pages go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from web.support import LiveServer, World, make_template, open_world

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing (required in CI)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def e2e_world(tmp_path: Path) -> Iterator[World]:
    folder = Path(tempfile.mkdtemp(prefix="attunement-e2e-"))
    template = make_template("sqlite", f"sqlite:///{folder / 'template.db'}",
                             folder / "identifier.key")
    url, key = template.clone(tmp_path)
    world = open_world(template, url, key)
    try:
        yield world
    finally:
        world.store.close()


@pytest.fixture
def server(e2e_world: World) -> Iterator[LiveServer]:
    with LiveServer(e2e_world.app) as live:
        yield live


@pytest.fixture
def shots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
