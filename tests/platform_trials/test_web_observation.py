"""A coded session uploaded to a family: measures worked out by hand, shown beside the
caregiver's questionnaire scores; bad files are refused with a clear error and not stored."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from attunement.usecases import assessments as uc_assessments
from attunement.web.app import create_app
from attunement.web.pages.observations import router as observation_router
from attunement.web.settings import Settings

from .conftest import PASSWORD, TrialWorld

# cues (infant): cry 3, gaze 14.2, cry 25, cry 47; responses (mother): 5, 9.4, 16, 28, 55
# within 0-5 s: 3->5 (2 s), 14.2->16 (1.8 s), 25->28 (3 s); 47 has none until 55 (8 s)
# all cues 3/4 = 0.75, median latency 2 s; cry 2/3, median 2.5 s; gaze 1/1, 1.8 s
SESSION = b"""session,actor,code,onset,offset,duration
dyad-021 free play,Infant,cry,3,8,60
dyad-021 free play,Mother,soothe,5,12,60
dyad-021 free play,Mother,vocalise,9.4,,60
dyad-021 free play,Infant,gaze to parent,14.2,16,60
dyad-021 free play,Mother,vocalise,16,,60
dyad-021 free play,Infant,cry,25,31,60
dyad-021 free play,Mother,soothe,28,35,60
dyad-021 free play,Infant,cry,47,50,60
dyad-021 free play,Mother,soothe,55,58,60
"""


@pytest.fixture
def client(tw: TrialWorld) -> Iterator[TestClient]:
    app = create_app(tw.store, settings=Settings(secret_key="test-secret-" + "x" * 32))
    if not any(getattr(r, "path", "") == "/families/{family_id}/observations"
               and "GET" in getattr(r, "methods", ()) for r in app.routes):
        app.include_router(observation_router)
    with TestClient(app) as c:
        yield c


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.mark.parametrize("tw", ["sqlite"], indirect=True)
def test_upload_measures_and_timeline(tw: TrialWorld, client: TestClient):
    fam = tw.fam_a[0]
    uc_assessments.submit_assessment(tw.store, tw.system, fam, "mother", "epds", "baseline",
                            [1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    csrf = _csrf(client.get("/login").text)
    client.post("/login", data={"email": "pa@example.org", "password": PASSWORD,
                                "csrf_token": csrf, "next": "/"})
    csrf = _csrf(client.get(f"/families/{fam}/observations").text)
    form = {"csrf_token": csrf, "cues": "cry, gaze to parent", "responses": "soothe, vocalise",
            "window": "0, 5", "unit": "1", "caregiver": "mother", "session_date": "2026-11-01"}
    bad = client.post(f"/families/{fam}/observations", data=form,
                      files={"file": ("dyad.csv", b"session,actor\nx,Infant\n", "text/csv")})
    assert bad.status_code == 422 and "dyad.csv" in bad.text
    assert tw.store.families.get_family(tw.pa, fam)["observation_sessions"] == []
    r = client.post(f"/families/{fam}/observations", data=form,
                    files={"file": ("dyad021.csv", SESSION, "text/csv")})
    assert r.status_code == 200, r.text
    assert "0.750" in r.text and "2.00" in r.text  # responsiveness, median latency (all cues)
    assert "0.667" in r.text and "2.50" in r.text  # cry
    assert "EPDS" in r.text and "Observed responsiveness" in r.text  # side by side
    assert "2026-11-01" in r.text
    # the API gives the same numbers, with the settings used
    token = tw.store.accounts.create_api_token(tw.pa)
    sid = tw.store.families.get_family(tw.pa, fam)["observation_sessions"][0]["id"]
    out = client.get(f"/api/families/{fam}/observations/{sid}/measures",
                     headers={"Authorization": f"Bearer {token}"}).json()
    rows = {m["cue_type"]: m for m in out["measures"]}
    assert rows["all"]["responsiveness"] == pytest.approx(0.75)
    assert rows["all"]["median_latency"] == pytest.approx(2.0)
    assert rows["gaze to parent"]["median_latency"] == pytest.approx(1.8)
    assert out["settings"]["window"] == [0.0, 5.0]
    # another site's practitioner cannot see it
    other = tw.store.accounts.create_api_token(tw.pb)
    assert client.get(f"/api/families/{fam}/observations/{sid}/measures",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 404
    # a researcher sees the family pseudonymised, but not the recording's content
    client.cookies.clear()
    csrf = _csrf(client.get("/login").text)
    client.post("/login", data={"email": "res@example.org", "password": PASSWORD,
                                "csrf_token": csrf, "next": "/"})
    page = client.get(f"/families/{fam}/observations")
    assert page.status_code == 200 and "only clinical roles may open recordings" in page.text
    assert "Add a coded session" not in page.text
