"""Role vignettes through the library and ``attunement profile FAMILY [--json]``.

One synthetic family per caregiver role the pathway must serve: mother, father, co-parent, foster,
adoptive and kinship carer, and a caregiver under 18.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from risk_vignettes import EPDS_E5_SELF_HARM_ONLY, EPDS_TOTAL13, carer, family
from typer.testing import CliRunner

from attunement.cli import app
from attunement.risk import profile

EPDS_TOTAL11 = [1, 1, 2, 1, 1, 2, 1, 1, 1, 0]

VIGNETTES: dict[str, dict[str, Any]] = {
    "mother": family(infant={"due_date": "2025-09-22"},
                     caregivers=[carer("M", responses={"epds": EPDS_TOTAL13})]),
    "father": family(caregivers=[carer("M"), carer("F", role="birth_father",
                                                   responses={"epds": EPDS_TOTAL11})]),
    "co_parent": family(caregivers=[carer("M"), carer("P", role="co_parent",
                                                      responses={"epds": EPDS_TOTAL11})]),
    "foster": family(placement="foster", caregivers=[
        carer("C", role="foster_carer", age=52, responses={"epds": EPDS_TOTAL13})]),
    "adoptive": family(placement="adoptive", caregivers=[
        carer("A1", role="adoptive_parent", age=38), carer("A2", role="adoptive_parent", age=41)]),
    "kinship": family(placement="kinship", caregivers=[carer("G", role="kinship_carer", age=58)]),
    "under_18": family(caregivers=[carer("Y", age=16)]),
}


def _json(tmp_path: Path, name: str, fam: dict[str, Any], *extra: str) -> dict[str, Any]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(fam))
    res = CliRunner().invoke(app, ["profile", str(path), "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("name", sorted(VIGNETTES))
def test_library_and_cli_agree_and_carry_the_safety_keys(tmp_path: Path, name: str) -> None:
    fam = VIGNETTES[name]
    d = _json(tmp_path, name, fam)
    assert list(d)[:6] == ["tier", "urgent", "urgent_reasons", "factors", "cumulative_risk",
                           "pathways"]
    for key in ("urgency", "treatment", "prompts", "safety_review_completed"):
        assert key in d
    lib = json.loads(json.dumps(profile(fam).to_dict(), default=str))
    assert d == lib


def test_mother_antenatal(tmp_path: Path) -> None:
    d = _json(tmp_path, "m", VIGNETTES["mother"])
    (f,) = d["factors"]
    assert f["label"] == "Perinatal depression" and "Murray & Cox 1990" in f["reason"]
    assert {t["route"] for t in d["treatment"]} == {"gp", "talking_therapies"}
    assert "booking_mental_health_questions" in {p["id"] for p in d["prompts"]}


@pytest.mark.parametrize("name,cid", [("father", "F"), ("co_parent", "P")])
def test_father_and_co_parent_use_the_fathers_cut_off(tmp_path: Path, name: str, cid: str) -> None:
    d = _json(tmp_path, name, VIGNETTES[name])
    (f,) = d["factors"]
    # a co-parent is not a birth parent: "depression", with the fathers' cut-off all the same
    label = "Perinatal depression" if name == "father" else "Depression"
    assert (f["caregiver"], f["label"]) == (cid, label)
    assert "Edmondson" in f["reason"]
    assert {t["route"] for t in d["treatment"] if t["caregiver"] == cid} == {"gp",
                                                                            "talking_therapies"}
    # the CG192 booking questions are asked of the birth mother, not of her partner
    assert {p["caregiver"] for p in d["prompts"] if p["id"] == "booking_mental_health_questions"} \
        == {"M"}


def test_foster_carer_has_depression_and_the_placement(tmp_path: Path) -> None:
    d = _json(tmp_path, "f", VIGNETTES["foster"])
    labels = {f["id"]: f["label"] for f in d["factors"]}
    assert labels == {"perinatal_depression": "Depression",
                      "placement": "Placement away from the birth family"}
    assert not [p for p in d["prompts"] if p["id"] == "booking_mental_health_questions"]


@pytest.mark.parametrize("name", ["adoptive", "kinship"])
def test_adoptive_and_kinship_families(tmp_path: Path, name: str) -> None:
    d = _json(tmp_path, name, VIGNETTES[name])
    assert [f["id"] for f in d["factors"]] == ["placement"]
    assert d["tier"] == "targeted" and d["urgency"] == "none" and d["treatment"] == []


def test_caregiver_under_18(tmp_path: Path) -> None:
    d = _json(tmp_path, "y", VIGNETTES["under_18"])
    (f,) = d["factors"]
    assert f["label"] == "Young parent (under 20)" and "at the assessment on 2025-06-02" in f["reason"]
    (p,) = [p for p in d["prompts"] if p["id"] == "caregiver_under_18"]
    assert p["caregiver"] == "Y" and "safeguarding" in p["text"]


def test_readable_output_puts_the_emergency_first(tmp_path: Path) -> None:
    fam = family(caregivers=[carer(context={"harm_intent": True},
                                   responses={"epds": EPDS_E5_SELF_HARM_ONLY})])
    path = tmp_path / "e.json"
    path.write_text(json.dumps(fam))
    res = CliRunner().invoke(app, ["profile", str(path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert out.index("EMERGENCY") < out.index("Tier:")
    for text in ("Crisis or perinatal mental-health team", "Samaritans", "Prompt -",
                 "Safety review recorded: no"):
        assert text in out, text


def test_service_config_sets_a_route_contact_through_the_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "service.yaml"
    cfg.write_text("routes:\n  gp: {contact: Anytown Medical Centre 01234 111111}\n")
    fam = family(caregivers=[carer(responses={"epds": EPDS_E5_SELF_HARM_ONLY})])
    d = _json(tmp_path, "s", fam, "--config", str(cfg))
    (gp,) = [t for t in d["treatment"] if t["route"] == "gp"]
    assert gp["contact"] == "Anytown Medical Centre 01234 111111" and gp["urgency"] == "same_day"
