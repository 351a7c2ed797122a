"""Issue 13's defects in the practitioner's and researcher's views that had no test of their
own: the pages a first-time user opens on the demo, as each role, through the web app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attunement.store import Store
from attunement.web import Settings, create_app

from .test_demo_caseload import demo  # noqa: F401  (the module's demo database)

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "attunement" / "web" / "templates"


def _client(info: Any, store: Store, email: str) -> TestClient:
    app = create_app(store, settings=Settings(secret_key=info.secret, sample_text_packs=True))
    client = TestClient(app)
    password = next(pw for e, pw, _r, _s in info.users if e == email)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf,
                                    "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_the_researcher_caseload_never_says_0_urgent_flags_above_urgent_rows(demo) -> None:  # noqa: F811
    info, store, _plan = demo
    page = _client(info, store, "researcher@demo.example").get("/").text
    assert re.search(r"\d+ urgent</strong>", page), "the demo has families with urgent flags"
    assert "Open urgent flags" not in page  # the practitioners' list, which a researcher lacks
    assert "No open urgent flags" not in page
    assert "the column below counts the\n  open ones" in page


def test_the_caseload_says_not_yet_never_never(demo) -> None:  # noqa: F811
    from attunement.usecases import families as uc_families
    from attunement.web.demo import SITES, STUDIES

    info, store, _plan = demo
    uc_families.register_family(store, store.system_actor(), {
        "family_id": "NOT-SEEN-YET", "site": SITES[0], "study": STUDIES[0],
        "infant": {"due_date": "2027-06-01"}, "placement": "birth_family",
        "caregivers": [{"id": "mother", "role": "birth_mother", "age": 30}]})
    page = _client(info, store, "practitioner.north@demo.example").get("/").text
    row = page[page.index("NOT-SEEN-YET") + 12:]
    row = row[:row.index("</tr>")]
    assert 'data-label="Last assessed">not yet<' in row and "never" not in row.lower()


def test_overdue_items_never_show_an_empty_window_date(demo) -> None:  # noqa: F811
    info, store, _plan = demo
    client = _client(info, store, "practitioner.north@demo.example")
    overdue = [f for f in store.families.list_families(store.system_actor())
               if f.get("overdue") and f["site"].startswith("North")]
    assert overdue, "the demo has overdue work at the north clinic"
    for fam in overdue[:3]:
        page = client.get(f"/families/{fam['id']}").text
        assert "(window closed )" not in page and "window closed None" not in page
        assert re.search(r"\(window closed \d{4}-\d{2}-\d{2}\)", page), fam["family_id"]


def test_a_web_sign_in_writes_no_api_token_row_to_the_audit_log(demo) -> None:  # noqa: F811
    info, store, _plan = demo
    admin = store.actor(next(u["id"] for u in store.accounts.list_users(store.system_actor())
                             if u["email"] == "admin@demo.example"))
    before = store.maintenance.audit_log(admin, limit=10000)
    _client(info, store, "practitioner.north@demo.example").get("/")
    after = store.maintenance.audit_log(admin, limit=10000)
    new = after[:len(after) - len(before)]
    assert not [e for e in new if e["entity"] == "api_token"], new


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_a_date_input_has_no_typed_format_hint_beside_it(template: str) -> None:
    """The browser's date picker shows the date in the user's locale; a 'YYYY-MM-DD' hint
    beside it contradicted it (mm/dd/yyyy beside YYYY-MM-DD)."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for field in re.findall(r'<div class="field">.*?</div>', text, flags=re.S):
        if 'type="date"' in field:
            assert not re.search(r"yyyy|dd/mm|mm/dd", field, flags=re.I), field
