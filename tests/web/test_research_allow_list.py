"""Researchers see an allow-list: a recognisable name, a caregiver key and a date planted in
EVERY free-text field of EVERY record type never reach ANY researcher response — every GET
route of the app (JSON API and HTML pages, found by walking the app's routes, not listed by
hand), every export format (CSV, Parquet, REDCap, FHIR, JSON; API and page) and the
researcher's command line (``platform trial --as``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families
from attunement.usecases import observations as uc_observations
from attunement.usecases import profiles as uc_profiles

from .support import SECRET_NAME, SECRET_NHS, World
from .test_authz import _sign_in

MARK = "Marigold Thistlewood"  # a name written into free text
DATE = "2025-03-17"  # a real date written into date fields and free text
KEY = "carer-xq7"  # a caregiver's own key (the clinical id), never shown to researchers
TEXT = f"{MARK} told {SECRET_NAME} on {DATE} (17/03/2025)"
NEEDLES = (MARK, "Marigold", "Thistlewood", SECRET_NAME, "Zebedee", SECRET_NHS, DATE,
           "17/03/2025", KEY, "FAM-A")
CODED = b"session,actor,code,onset\nMarigold home visit,Infant,cry,1\n" \
        b"Marigold home visit,Marigold Thistlewood,soothe,2\n"


def _plant(world: World) -> dict[str, Any]:
    """Free text in every record type of family A, through the store's ordinary writes."""
    st = world.store
    pa = st.actor(world.users["practitioner"])
    admin = st.actor(world.users["admin"])
    fam = world.family_a
    ids: dict[str, Any] = {"family": fam}
    uc_families.add_caregiver(st, pa, fam, {"id": KEY, "role": "kinship_carer", "age": 51,
                               "name": MARK, "nhs_number": "9434765870"})
    # form variants are free strings in a family file: a name there must not pass either
    uc_families.add_caregiver(st, pa, fam, {"id": "grandparent", "role": "other",
                               "variants": {"pbq": ["order_2001", MARK]}})
    st.families.update_identifiers(pa, fam, KEY, {"phone": "01632 960123"}, reason=TEXT)
    st.families.update_infant(pa, fam, due_date=(dt.date.today() + dt.timedelta(days=61)).isoformat(),
                     reason=TEXT)
    # an assessment, its correction (reason) and its alert's acknowledgement (note)
    a = uc_assessments.submit_assessment(st, pa, fam, KEY, "epds", "antenatal", [1, 1, 1, 1, 1, 1, 1, 1, 1, 3])
    uc_assessments.correct_assessment(st, pa, a["id"], [1, 1, 1, 1, 1, 1, 1, 1, 2, 3], reason=TEXT)
    alerts = [x for x in st.care.list_alerts(pa) if x["family"] == fam]
    assert alerts, "the safety item raised no alert"
    st.care.acknowledge_alert(pa, alerts[0]["id"], note=TEXT, outcome="safety_plan")
    # consents: a free-text kind and version, a withdrawal reason; a research consent
    c = st.care.add_consent(pa, fam, kind=MARK, version=TEXT[:50], given_on=DATE, caregiver=KEY)
    st.care.withdraw_consent(pa, c["id"], withdrawn_on=DATE, reason=TEXT)
    st.care.add_consent(pa, fam, kind="research", version=f"{MARK} v1", given_on=DATE)
    # an episode: free-text programme, fidelity notes, end reason, real dates
    e = st.care.add_episode(pa, fam, MARK, DATE, caregivers=[KEY])
    st.care.update_episode(pa, e["id"], sessions_offered=8, sessions_attended=5,
                      fidelity_notes=TEXT, end="2025-06-02", end_reason=TEXT)
    ids["episode"] = e["id"]
    # a coded session: file name, coder, note, real session date, the caregiver's key
    o = uc_observations.add_observation_session(
        st, pa, fam, filename="marigold-thistlewood.csv", content=CODED,
        metadata={"coder": MARK, "note": TEXT, "session_date": DATE, "caregiver": KEY,
                  "time_point": "antenatal", "task": TEXT, "cues": "cry",
                  "responses": "soothe"})
    ids["session"] = o["id"]
    # a caregiver link, then the caregiver leaves with a reason
    uc_assessments.create_link(st, pa, fam, KEY, "phq9", "antenatal")
    st.families.end_caregiver(pa, fam, KEY, reason=TEXT)
    # a randomised trial allocation
    study = next(s["id"] for s in st.accounts.list_studies(admin) if s["name"] == "Study S")
    ids["study"] = study
    from attunement.usecases.trials import Trials

    trials = Trials(st)
    trials.define_design(admin, study, {"method": "blocks", "arms": ["usual care", "VIPP"],
                                        "block_sizes": [2], "strata": ["site"]})
    trials.randomise(pa, fam)
    return ids


def _get_paths(routes: list[Any], prefix: str = "") -> Iterator[str]:
    """Every GET path of the app, through included routers (FastAPI resolves those lazily)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _get_paths(included.routes, prefix + route.include_context.prefix)
        elif "GET" in (getattr(route, "methods", None) or ()):
            yield prefix + route.path


def _path(template: str, ids: dict[str, Any]) -> str | None:
    values = {"family_id": ids["family"], "study_id": ids["study"],
              "session_id": ids["session"], "episode_id": ids["episode"], "token": "x" * 43}

    def fill(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        return str(values.get(name, "__missing__"))

    out = re.sub(r"\{([^}]+)\}", fill, template)
    return None if "__missing__" in out else out


def _text(r: Any) -> str:
    if r.headers.get("content-type", "").startswith("application/vnd.apache.parquet") or \
            r.content[:4] == b"PAR1":
        return pd.read_parquet(io.BytesIO(r.content)).to_csv()
    return r.content.decode("utf-8", "replace")


def test_no_free_text_date_or_clinical_id_reaches_a_researcher(client: TestClient,
                                                               world: World,
                                                               tmp_path: Path) -> None:
    ids = _plant(world)
    # the planting worked: the clinical view carries it
    clinical = client.get(f"/api/families/{ids['family']}",
                          headers=world.headers("practitioner")).text
    for needle in (MARK, KEY, DATE):
        assert needle in clinical
    h = world.headers("researcher")
    seen: dict[str, str] = {}
    gets = sorted({(path, path.startswith("/api")) for path in _get_paths(world.app.routes)
                   if not path.startswith(("/static", "/docs", "/redoc", "/openapi"))})
    assert len(gets) > 20, gets
    api = [p for p, is_api in gets if is_api]
    pages = [p for p, is_api in gets if not is_api]
    for template in api:
        path = _path(template, ids)
        if path is None:
            continue
        seen[path] = _text(client.get(path, headers=h))
        if template.startswith("/api/exports/assessments"):
            for fmt in ("csv", "parquet", "redcap", "fhir", "json"):
                for query in ("", "&pseudonymise=false", f"&study={ids['study']}"):
                    url = f"{path}?format={fmt}{query}"
                    seen[url] = _text(client.get(url, headers=h))
    csrf = _sign_in(client, world, "researcher")
    for template in pages:
        path = _path(template, ids)
        if path is not None:
            seen["page " + path] = _text(client.get(path))
    for fmt in ("csv", "parquet", "redcap", "redcap-dictionary", "fhir", "json"):
        r = client.post("/exports", data={"csrf_token": csrf, "format": fmt,
                                          "identifiable": "yes"})
        assert r.status_code == 200, (fmt, r.status_code)
        seen[f"page POST /exports {fmt}"] = _text(r)
    # the command line, as the researcher (platform trial is the CLI a researcher uses)
    from typer.testing import CliRunner

    from attunement.cli import app as cli_app

    out_csv = tmp_path / "allocations.csv"
    for command in (["show"], ["allocations", "--csv", str(out_csv)], ["balance"],
                    ["consort"]):
        r = CliRunner().invoke(cli_app, ["platform", "trial", command[0], "Study S", *command[1:],
                                         "--as", "res@example.org",
                                         "--db", str(world.store.url)],
                               env={"COLUMNS": "240",
                                    "ATTUNEMENT_KEY_FILE": str(world.store.key_path)})
        assert r.exit_code == 0, (command, r.output)
        seen["cli " + command[0]] = r.output
    seen["cli allocations csv"] = out_csv.read_text()
    reached = [p for p, body in seen.items() if body]
    assert any("families/" in p and "observations" in p for p in reached)
    assert any("exports/assessments?format=parquet" in p for p in reached)
    leaks = {(where, needle) for where, body in seen.items() for needle in NEEDLES
             if needle in body}
    assert not leaks, sorted(leaks)
    # the store's screening family file (what /profile and /matches are computed from)
    researcher = world.store.actor(world.users["researcher"])
    family_file = json.dumps(uc_profiles.family_document(world.store, researcher, ids["family"]))
    assert not [n for n in NEEDLES if n in family_file], family_file
    assert "order_2001" in family_file  # a variant the PBQ definition names is coded: kept
    # and the researcher did see the family, pseudonymised, with days instead of dates
    doc = client.get(f"/api/families/{ids['family']}", headers=h).json()
    carers = {c["role"]: c for c in doc["caregivers"]}
    kin = carers["kinship_carer"]
    assert kin["id"] and kin["id"] != KEY and kin["left_day"] is not None
    episode = doc["episodes"][0]
    assert episode["caregivers"] == [kin["id"]] and episode["programme"] == "other"
    assert isinstance(episode["start_day"], int) and episode["end_day"] - \
        episode["start_day"] == (dt.date(2025, 6, 2) - dt.date(2025, 3, 17)).days
    obs = doc["observation_sessions"][0]
    assert obs["caregiver"] == kin["id"] and obs["time_point"] == "antenatal"
    assert obs["session_day"] == episode["start_day"]
