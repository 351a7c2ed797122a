"""Allocation concealment: a recruiter (practitioner, site lead) cannot learn block sizes,
block positions, the sequence or other families' allocations through any route (API, pages,
CLI ``platform trial --as``, audit log), so the next allocation cannot be predicted; admins and
researchers (trial statisticians) still see what they need."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from attunement.cli import app as cli_app
from attunement.web.app import create_app
from attunement.web.pages.trials import router as trials_router
from attunement.web.settings import Settings

from .conftest import SECRET, TrialWorld
from .test_web_trials import _login

# one fixed block of 4 per site: knowing the size and the block positions of the first three
# allocations of a block gives the fourth away
BLOCK4 = {"method": "blocks", "arms": ["usual care", "VIPP-SD"], "ratio": [1, 1],
          "block_sizes": [4], "strata": ["site"], "levels": {}, "consent_kind": "research"}
RECRUITER_DESIGN_KEYS = {"study", "study_name", "method", "arms", "strata", "factors", "levels",
                         "consent_kind", "concealed"}


@pytest.fixture
def web(tw: TrialWorld) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    app = create_app(tw.store, settings=Settings(secret_key="test-secret-" + "x" * 32))
    if not any(getattr(r, "path", "") == "/trials" for r in app.routes):
        app.include_router(trials_router)
    headers = {role: {"Authorization": "Bearer " + tw.store.accounts.create_api_token(
        tw.store.actor(uid))} for role, uid in tw.user_ids().items()}
    with TestClient(app) as c:
        yield c, headers


def _cli(tw: TrialWorld, *args: str) -> tuple[int, str]:
    url = str(tw.store.url)
    r = CliRunner().invoke(cli_app, ["platform", "trial", *args, "--db", url],
                           env={"COLUMNS": "240",
                                "ATTUNEMENT_KEY_FILE": str(tw.store.key_path)})
    return r.exit_code, r.stdout + r.stderr


def _predict_fourth(harvest: list[str], arms: list[str]) -> str | None:
    """The attack: find a block size and the positions and arms of the current block in what
    the recruiter received, and name the arm the block still needs."""
    text = "\n".join(harvest)
    size = re.search(r'"block_sizes":\s*\[(\d+)\]|Block sizes</dt><dd>(\d+)', text)
    seqs = re.findall(r'"sequence":\s*(\d+)[^{}]*?"arm":\s*"([^"]+)"', text)
    if not size or not seqs:
        return None
    block = int(size.group(1) or size.group(2))
    taken = {int(n): arm for n, arm in seqs}
    start = (max(taken) - 1) // block * block + 1
    counts = {a: sum(1 for n, arm in taken.items() if n >= start and arm == a) for a in arms}
    need = [a for a in arms if counts[a] < block // len(arms)]
    return need[0] if len(need) == 1 else None


def test_a_recruiter_cannot_predict_the_next_allocation(tw: TrialWorld, web):
    c, h = web
    tw.trials.define_design(tw.admin, tw.study, BLOCK4, secret=SECRET)
    # the site lead randomises three families of site A; the practitioner the fourth
    first = [tw.trials.randomise(tw.lead, f)["arm"] for f in tw.fam_a[:3]]
    own = tw.fam_a[3]
    harvest: list[str] = []
    study = f"/api/studies/{tw.study}"
    for role in ("practitioner", "site_lead"):
        for path in ("/design", "/allocations", "/balance", "/consort.svg"):
            r = c.get(study + path, headers=h[role])
            harvest.append(r.text)
            if path != "/design":
                assert r.status_code == 403, (role, path, r.text)
        design = c.get(study + "/design", headers=h[role]).json()
        assert set(design) <= RECRUITER_DESIGN_KEYS, set(design) - RECRUITER_DESIGN_KEYS
        for fam in tw.fam_a[:3]:
            r = c.get(f"/api/families/{fam}/allocation", headers=h[role])
            assert r.status_code == 200
            assert not {"sequence", "details", "algorithm", "allocated_at"} & set(r.json())
            assert r.json()["allocated_on"] == dt.date.today().isoformat()
            harvest.append(r.text)
        # a second randomisation's refusal does not give the place in the sequence away
        r = c.post(f"/api/families/{tw.fam_a[0]}/randomise", json={}, headers=h[role])
        assert r.status_code == 409 and "allocation 1" not in r.text
        harvest.append(r.text)
    audit = c.get("/api/audit?limit=1000", headers=h["site_lead"])
    assert audit.status_code == 200
    for e in audit.json():
        if e["entity"] == "trial_allocation":
            assert e["after"] == {"study": tw.study, "concealed": True}, e
    harvest.append(audit.text)
    # pages, as each recruiter
    for email in ("pa@example.org", "lead@example.org"):
        _login(c, email)
        for path in ("/trials", f"/studies/{tw.study}/trial",
                     *(f"/families/{f}/randomise" for f in tw.fam_a[:3])):
            page = c.get(path)
            assert page.status_code == 200, (path, page.status_code)
            assert "Block sizes" not in page.text and "Allocation number" not in page.text
            harvest.append(page.text)
        trial_page = c.get(f"/studies/{tw.study}/trial").text
        assert "A-1" not in trial_page and "Allocated so far" not in trial_page
    c.cookies.clear()
    # the CLI, as each recruiter
    for email in ("pa@example.org", "lead@example.org"):
        code, out = _cli(tw, "show", "Trial T", "--as", email)
        assert code == 0, out
        assert "block sizes" not in out and "ratio" not in out and "allocated" not in out
        harvest.append(out)
        for command in ("allocations", "balance", "consort"):
            code, out = _cli(tw, command, "Trial T", "--as", email)
            assert code == 2 and "allocation concealment" in out, (command, out)
            harvest.append(out)
    blob = "\n".join(harvest)
    assert '"sequence"' not in blob and '"block_sizes"' not in blob and '"details"' not in blob
    assert _predict_fourth(harvest, BLOCK4["arms"]) is None
    # the recruiter randomises the fourth family and learns only its arm
    mine = c.post(f"/api/families/{own}/randomise", json={}, headers=h["practitioner"])
    assert mine.status_code == 201
    assert not {"sequence", "details"} & set(mine.json())
    # positive control: the same attack on what the trial statistician sees does predict it,
    # so the assertions above would catch a leak
    stats = [json.dumps(tw.trials.get_design(tw.researcher, tw.study)),
             json.dumps(tw.trials.list_allocations(tw.admin, tw.study)[:3])]
    assert _predict_fourth(stats, BLOCK4["arms"]) == mine.json()["arm"]
    assert len(first) == 3
