"""Screenshots of the main tasks for a person to look at (issue 13's closing note).

Run on demand, not in the test suite::

    PYTHONPATH=src python tools/screenshots.py [--out /work/screens]

It builds a fresh demo (``attunement demo``'s synthetic families, sample wording on, in a
temporary data folder), serves it on a free loopback port, and with Debian's Chromium
(``/usr/bin/chromium``, through Playwright) saves PNGs at desktop width (1280 px) and phone
width (390 px) of: a caregiver leaving one item unanswered and sending; the PHQ-9 with its
validated wording; consent recorded, then a randomisation; a caregiver reading a released
result in Spanish and in Arabic (right to left); the crisis support box in Spanish and Arabic;
the caseload and a family page. It prints each file with what to look at, and fails (exit 1)
when a page scrolls sideways. The assertions live in ``tests/e2e``; this tool only shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


class _Server:
    """uvicorn serving the app on a free loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the demo server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _demo(folder: Path) -> tuple[Any, Any, dict[str, str]]:
    """A fresh demo store in ``folder``, its app, and the demo users' passwords."""
    os.environ["XDG_DATA_HOME"] = str(folder)  # the demo's data folder, not the user's
    from rich.console import Console

    from attunement.store import Store
    from attunement.web import Settings, create_app
    from attunement.web.demo import build_demo

    info = build_demo(None, console=Console(file=io.StringIO()))
    store = Store.open(info.url, key_path=info.key_file)
    app = create_app(store, settings=Settings(secret_key=info.secret, sample_text_packs=True))
    return store, app, {email: pw for email, pw, _role, _scope in info.users}


class Shooter:
    """Takes and lists the screenshots; notes any page that scrolls sideways."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.taken: list[tuple[Path, str]] = []
        self.problems: list[str] = []

    def shot(self, page: Any, name: str, look_for: str) -> None:
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if wide > 0:
            self.problems.append(f"{name}: scrolls sideways by {wide}px")
        self.taken.append((path, look_for))


def _login(browser: Any, url: str, email: str, password: str, viewport: dict[str, int]) -> Any:
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(20000)
    page.goto(f"{url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    return page


def _new_family(store: Any, code: str) -> int:
    """A family registered today in the first demo study at the north clinic (no answers)."""
    from attunement.usecases import families as uc_families
    from attunement.web.demo import SITES, STUDIES

    due = (dt.date.today() + dt.timedelta(days=70)).isoformat()
    return int(uc_families.register_family(store, store.system_actor(), {
        "family_id": code, "site": SITES[0], "study": STUDIES[0], "infant": {"due_date": due},
        "placement": "birth_family",
        "caregivers": [{"id": "mother", "role": "birth_mother", "age": 29},
                       {"id": "father", "role": "birth_father", "age": 31}],
    })["id"])


def _with_design(store: Any) -> None:
    """A randomisation design for the first demo study (the demo defines none)."""
    from attunement.store.trials import StudyTrials
    from attunement.web.demo import STUDIES

    system = store.system_actor()
    study = next(s["id"] for s in store.accounts.list_studies(system) if s["name"] == STUDIES[0])
    StudyTrials(store).define_design(system, study, {
        "method": "blocks", "arms": ["usual care", "VIPP-SD"], "block_sizes": [2],
        "strata": ["site"]})


def run(out: Path) -> int:
    from playwright.sync_api import sync_playwright

    from attunement.usecases.assessments import submit_link

    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="attunement-screens-"))
    store, app, passwords = _demo(folder)
    _with_design(store)
    email = "practitioner.north@demo.example"
    actor = store.actor(next(u["id"] for u in store.accounts.list_users(store.system_actor())
                             if u["email"] == email))
    shoot = Shooter(out)
    with _Server(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for vp_name, vp in VIEWPORTS.items():
            fid = _new_family(store, f"SCREEN-{vp_name.upper()}")
            page = _login(browser, server.url, email, passwords[email], vp)
            shoot.shot(page, f"caseload-{vp_name}",
                       "the caseload: families due first, urgent badge on one line, no sideways "
                       "scroll, interpreter column readable")
            first = page.locator("main table a[href^='/families/']").first
            first.click()
            page.wait_for_url("**/families/*")
            shoot.shot(page, f"family-{vp_name}",
                       "a demo family page: scores chart with axis label, flags, due list, "
                       "language and interpreter section")
            # consent recorded in the UI, then a randomisation
            page.goto(f"{server.url}/families/{fid}")
            form = page.locator("#consent-form")
            form.get_by_label("Consent to").select_option("research")
            form.get_by_label("Version of the information sheet").fill("v1 2026-11")
            form.get_by_role("button", name="Record consent").click()
            page.wait_for_url(f"**/families/{fid}*")
            page.locator("section[aria-labelledby=consent-title]").scroll_into_view_if_needed()
            shoot.shot(page, f"consent-{vp_name}", "the 'Consent recorded' message and the "
                       "consent listed with its form version")
            page.get_by_role("link", name="Randomisation").click()
            page.wait_for_url(f"**/families/{fid}/randomise")
            page.get_by_label("The family is eligible, has consented").check()
            page.get_by_role("button", name="Randomise").click()
            page.wait_for_url(f"**/families/{fid}/randomise")
            shoot.shot(page, f"randomised-{vp_name}", "the allocation heading with the arm")
            page.context.close()

            # a caregiver leaves one item unanswered and sends; the PHQ-9's own wording
            carer = browser.new_context(viewport=vp).new_page()
            carer.goto(f"{server.url}/c/"
                       + store.care.create_link(actor, fid, "mother", "phq9", "antenatal"))
            shoot.shot(carer, f"phq9-{vp_name}", "the PHQ-9's validated wording and answers "
                       "('Not at all' ... 'Nearly every day'), no 'option N'")
            for n in (1, 2, 3, 4, 6, 7, 8, 9):
                carer.check(f'input[name="item.{n}"][value="0"]')
            carer.get_by_label("I would rather not answer this question").nth(4).check()
            carer.locator("fieldset#f-item-5").scroll_into_view_if_needed()
            shoot.shot(carer, f"skip-{vp_name}", "item 5's 'I would rather not answer' box "
                       "ticked, on screen beside the question")
            with carer.expect_navigation():
                carer.get_by_role("button", name="Send my answers").click()
            shoot.shot(carer, f"sent-{vp_name}", "the thank-you page")
            carer.context.close()

            # released results and the crisis support box, in Spanish and Arabic
            for caregiver, language in (("father", "es"), ("mother", "ar")):
                store.families.set_caregiver_language(actor, fid, caregiver,
                                                      page_language=language,
                                                      interpreter_needed=True)
                done = submit_link(store, store.care.create_link(actor, fid, caregiver, "phq9",
                                                                 "6-8 weeks"),
                                   [1, 1, 1, 1, 1, 1, 1, 0, 0], language=language,
                                   time_point="6-8 weeks")
                store.care.release_assessment(actor, done["id"])
                carer = browser.new_context(viewport=vp).new_page()
                carer.goto(f"{server.url}/s/"
                           + store.care.create_space_link(actor, fid, caregiver))
                shoot.shot(carer, f"space-{language}-{vp_name}",
                           f"the released PHQ-9 result in {language} (score 7 of 27, band "
                           "'mild' in words, support text)"
                           + (", laid out right to left" if language == "ar" else ""))
                carer.goto(f"{server.url}/c/"
                           + store.care.create_link(actor, fid, caregiver, "phq9",
                                                    "4 months"))
                for n, value in enumerate([0, 0, 0, 0, 0, 0, 0, 0, 1], start=1):
                    carer.check(f'input[name="item.{n}"][value="{value}"]')
                with carer.expect_navigation():
                    carer.locator("form button[type=submit]").click()
                shoot.shot(carer, f"support-{language}-{vp_name}",
                           f"the crisis support box in {language}, contact names translated, "
                           "phone numbers left to right, 'not yet checked by a qualified "
                           "translator' note")
                carer.context.close()
            # the family page at this width after all of it
            page = _login(browser, server.url, email, passwords[email], vp)
            page.goto(f"{server.url}/families/{fid}")
            shoot.shot(page, f"family-after-{vp_name}", "the new family: consent, allocation, "
                       "caregivers' languages, released results, alerts from the support test")
            page.context.close()
        browser.close()
    store.close()
    for path, look_for in shoot.taken:
        print(f"{path}\t{look_for}")
    for problem in shoot.problems:
        print(f"PROBLEM\t{problem}", file=sys.stderr)
    return 1 if shoot.problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/work/screens"),
                        help="folder for the PNGs (default /work/screens; not in the repository)")
    sys.exit(run(parser.parse_args().out))


if __name__ == "__main__":
    main()
