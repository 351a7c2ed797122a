"""The screening CLI: profile, match, interventions list/show; JSON keys; errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from screening_vignettes import carer, family
from typer.testing import CliRunner

from attunement.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "family.json")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_profile_json_has_the_issue_keys(runner: CliRunner) -> None:
    res = runner.invoke(app, ["profile", EXAMPLE, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert list(d)[:6] == ["tier", "urgent", "urgent_reasons", "factors", "cumulative_risk",
                           "pathways"]
    assert d["tier"] == "targeted" and d["cumulative_risk"] == 3
    assert {f["id"] for f in d["factors"]} == {"perinatal_depression", "own_childhood_adversity",
                                               "socioeconomic_disadvantage"}


def test_profile_readable(runner: CliRunner) -> None:
    res = runner.invoke(app, ["profile", EXAMPLE])
    assert res.exit_code == 0, res.output
    assert "Tier: Targeted" in res.stdout and "EPDS total 13" in res.stdout


def test_profile_with_service_config(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "svc.yaml"
    cfg.write_text("tiers:\n  cumulative_risk: {cumulative_risk_at_least: 3}\n")
    res = runner.invoke(app, ["profile", EXAMPLE, "--json", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["tier"] == "specialist"


def test_match_json_and_offered(runner: CliRunner) -> None:
    res = runner.invoke(app, ["match", EXAMPLE, "--json", "--offered", "vig,mellow_babies"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert list(d)[:3] == ["recommended", "excluded", "note"]
    assert [r["id"] for r in d["recommended"]] == ["vig", "mellow_babies"]
    assert {"id", "name", "reasons", "evidence"} <= set(d["recommended"][0])
    assert next(e for e in d["excluded"] if e["id"] == "abc")["reasons"][0] == \
        "not offered by this service"


def test_match_readable(runner: CliRunner) -> None:
    res = runner.invoke(app, ["match", EXAMPLE])
    assert res.exit_code == 0, res.output
    assert "Recommended for DEMO-EXAMPLE" in res.stdout and "Not eligible" in res.stdout


def test_invalid_family_exits_2_with_field_message(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(family(caregivers=[carer("M"), carer("X", role="aunt")])))
    for cmd in (["profile", str(path)], ["match", str(path), "--json"]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2
        assert "caregivers[1].role" in res.output and "Traceback" not in res.output


def test_unknown_offered_id_and_missing_file_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["match", EXAMPLE, "--offered", "abc,nope"])
    assert res.exit_code == 2 and "unknown programme id(s) nope" in res.output
    res = runner.invoke(app, ["profile", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "file not found" in res.output


def test_interventions_list_and_show(runner: CliRunner) -> None:
    res = runner.invoke(app, ["interventions", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["id"] for r in rows][:2] == ["abc", "mellow_babies"] and len(rows) >= 19
    res = runner.invoke(app, ["interventions", "list"])
    assert res.exit_code == 0 and "Intervention catalogue" in res.stdout
    res = runner.invoke(app, ["interventions", "list", "--json", "--tier", "specialist",
                              "--pathway", "relationship_disorder"])
    assert [r["id"] for r in json.loads(res.stdout)] == ["cos_i", "cpp", "pip", "www"]
    res = runner.invoke(app, ["interventions", "list", "--tier", "intensive"])
    assert res.exit_code == 2 and "--tier" in res.output
    res = runner.invoke(app, ["interventions", "show", "abc", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["evidence"]["strength"] == 5
    res = runner.invoke(app, ["interventions", "show", "mio"])
    assert res.exit_code == 0 and "Mothering from the Inside Out" in res.stdout
    res = runner.invoke(app, ["interventions", "show", "nope"])
    assert res.exit_code == 2 and "unknown programme 'nope'" in res.output
