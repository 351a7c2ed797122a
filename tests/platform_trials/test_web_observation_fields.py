"""The observation upload form says which field an error is about (issue 13)."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from .conftest import PASSWORD, TrialWorld
from .test_web_observation import SESSION, _csrf, client  # noqa: F401  (fixture)


def test_empty_codes_error_names_the_field(tw: TrialWorld, client: TestClient):  # noqa: F811
    fam = tw.fam_a[0]
    csrf = _csrf(client.get("/login").text)
    client.post("/login", data={"email": "pa@example.org", "password": PASSWORD,
                                "csrf_token": csrf, "next": "/"})
    csrf = _csrf(client.get(f"/families/{fam}/observations").text)
    form = {"csrf_token": csrf, "cues": "cry", "responses": " , ", "window": "0, 5",
            "unit": "1"}
    r = client.post(f"/families/{fam}/observations", data=form,
                    files={"file": ("dyad021.csv", SESSION, "text/csv")})
    assert r.status_code == 422
    assert "Caregiver response codes: name at least one code" in html.unescape(r.text)
    assert tw.store.families.get_family(tw.pa, fam)["observation_sessions"] == []
