"""`attunement platform trial ...` through Typer's CliRunner against a real store (SQLite and
PostgreSQL): every subcommand, errors as one line with exit code 2, audited acting users."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner, Result

from attunement.cli import app
from attunement.usecases import families as uc_families

from .conftest import DESIGN, SECRET, TrialWorld, build, family_payload

runner = CliRunner()


@dataclass
class Cli:
    tw: TrialWorld
    url: str
    key: Path
    tmp: Path

    def __call__(self, *args: str, env_db: bool = False) -> Result:
        env = {"COLUMNS": "240", "ATTUNEMENT_KEY_FILE": str(self.key)}
        argv = [*args]
        if env_db:
            env["ATTUNEMENT_DB"] = self.url
        else:
            argv += ["--db", self.url]
        return runner.invoke(app, ["platform", "trial", *argv], env=env)

    def design_file(self, design: dict, name: str = "design.yaml") -> Path:
        path = self.tmp / name
        if name.endswith(".json"):
            path.write_text(json.dumps(design))
        else:
            path.write_text(yaml.safe_dump(design))
        return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    url = (f"sqlite:///{tmp_path / 'trial.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    key = tmp_path / "identifier.key"
    tw = build(url, key)
    try:
        yield Cli(tw, url, key, tmp_path)
    finally:
        tw.store.close()


def _one_line_error(r: Result, *fragments: str) -> str:
    """Exit code 2, no traceback, one `error:` line on stderr containing the fragments."""
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    err = r.stderr.strip()
    assert err.startswith("error:") and "\n" not in err, err
    assert "Traceback" not in r.output
    for f in fragments:
        assert f in err, (f, err)
    return err


def _define(cli: Cli) -> None:
    secret = cli.tmp / "seed.txt"
    secret.write_text(SECRET + "\n")
    r = cli("design", "Trial T", "--file", str(cli.design_file(DESIGN)),
            "--secret-file", str(secret))
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------------- design and show


def test_design_from_file_then_show(cli: Cli):
    _define(cli)
    stored = cli.tw.trials.get_design(cli.tw.admin, cli.tw.study)
    assert stored["arms"] == DESIGN["arms"] and stored["levels"] == {"smi": ["yes", "no"]}
    assert stored["strata"] == ["site", "smi"] and stored["block_sizes"] == [2, 4]
    r = cli("show", "Trial T", env_db=True)  # $ATTUNEMENT_DB works too
    assert r.exit_code == 0, r.output
    for part in ("usual care", "VIPP-SD", "1:1", stored["secret_fingerprint"], "smi: yes, no",
                 "research"):
        assert part in r.stdout, part
    assert SECRET not in r.stdout
    # by study id as well as by name; the design is audited as the system operator
    assert cli("show", str(cli.tw.study)).exit_code == 0
    log = cli.tw.store.maintenance.audit_log(cli.tw.admin, limit=5)
    entry = next(e for e in log if e["entity"] == "trial_design")
    assert entry["actor"] == "system" and entry["action"] == "create"


def test_yaml_yes_no_levels_stay_words(cli: Cli):
    """YAML 1.1 would read `[yes, no]` as booleans; the practitioner records the words."""
    path = cli.tmp / "plain.yaml"
    path.write_text("method: blocks\narms: [usual care, VIPP-SD]\nblock_sizes: [2, 4]\n"
                    "strata: [site, smi]\nlevels: {smi: [yes, no]}\nconsent_kind: research\n")
    r = cli("design", "Trial T", "--file", str(path))
    assert r.exit_code == 0, r.output
    assert cli.tw.trials.get_design(cli.tw.admin, cli.tw.study)["levels"] == {
        "smi": ["yes", "no"]}
    r = cli("randomise", "Trial T", "A-0", "--as", "pa@example.org", "--value", "smi=yes")
    assert r.exit_code == 0, r.output


def test_design_from_options_and_json_and_as_admin(cli: Cli):
    r = cli("design", "Trial T", "--method", "minimisation", "--arms", "a,b,c",
            "--ratio", "1,1,1", "--factors", "centre,smi", "--level", "smi=yes,no",
            "--p", "0.9", "--as", "admin@example.org")
    assert r.exit_code == 0, r.output
    d = cli.tw.trials.get_design(cli.tw.admin, cli.tw.study)
    assert d["method"] == "minimisation" and d["arms"] == ["a", "b", "c"] and d["p"] == 0.9
    entry = next(e for e in cli.tw.store.maintenance.audit_log(cli.tw.admin, limit=5)
                 if e["entity"] == "trial_design")
    assert entry["actor"] == "admin@example.org"
    # a JSON file replaces it while nobody is allocated; an option overrides the file's key
    path = cli.design_file(DESIGN, "design.json")
    r = cli("design", "Trial T", "-f", str(path), "--block-sizes", "4")
    assert r.exit_code == 0, r.output
    d = cli.tw.trials.get_design(cli.tw.admin, cli.tw.study)
    assert d["method"] == "blocks" and d["block_sizes"] == [4]


def test_bad_design_file_names_the_field(cli: Cli):
    bad = cli.design_file({**DESIGN, "ratio": [1, 1, 1]})
    _one_line_error(cli("design", "Trial T", "--file", str(bad)), "design.ratio", "3 entries")
    no_levels = cli.design_file({k: v for k, v in DESIGN.items() if k != "levels"})
    _one_line_error(cli("design", "Trial T", "--file", str(no_levels)), "design.levels.smi")
    broken = cli.tmp / "broken.yaml"
    broken.write_text("method: blocks\narms: [a, b\n")
    _one_line_error(cli("design", "Trial T", "--file", str(broken)), "broken.yaml", "YAML")
    _one_line_error(cli("design", "Trial T", "--file", str(cli.tmp / "missing.yaml")),
                    "file not found")
    _one_line_error(cli("design", "Trial T", "--ratio", "1,x", "--arms", "a,b",
                        "--method", "blocks"), "--ratio")
    # only an admin (or the operator) may define a design
    _one_line_error(cli("design", "Trial T", "--file", str(cli.design_file(DESIGN)),
                        "--as", "pa@example.org"), "may not")
    with pytest.raises(Exception):  # noqa: B017 - nothing was stored
        cli.tw.trials.get_design(cli.tw.admin, cli.tw.study)


def test_show_errors(cli: Cli):
    _one_line_error(cli("show", "Trial T"), "has no randomisation design")
    _one_line_error(cli("show", "No Such Trial"), "study 'No Such Trial' not found")
    _one_line_error(cli("show", "Trial T", "--as", "nobody@example.org"), "--as", "no user")


# ------------------------------------------------------------------------------- randomise


def test_randomise_by_code_and_id_is_audited_as_the_user(cli: Cli):
    _define(cli)
    tw = cli.tw
    r = cli("randomise", "Trial T", "A-0", "--as", "pa@example.org", "--value", "smi=no")
    assert r.exit_code == 0, r.output
    first = tw.trials.allocation(tw.admin, tw.fam_a[0])
    assert first["sequence"] == 1 and first["allocated_by"] == "pa@example.org"
    assert first["inputs"] == {"site": "Site A", "smi": "no"}
    assert f"randomised to '{first['arm']}'" in r.stdout
    assert "allocation 1" not in r.stdout  # the recruiter never learns the sequence
    entry = next(e for e in tw.store.maintenance.audit_log(tw.admin, limit=10)
                 if e["id"] == first["audit_id"])
    assert entry["action"] == "randomise" and entry["actor"] == "pa@example.org"
    # by record id, by the site lead
    r = cli("randomise", str(tw.study), str(tw.fam_a[1]), "--as", "lead@example.org",
            "--value", "smi=yes")
    assert r.exit_code == 0, r.output
    assert tw.trials.allocation(tw.admin, tw.fam_a[1])["allocated_by"] == "lead@example.org"
    # never twice: the store's reason, exit 2
    _one_line_error(cli("randomise", "Trial T", "A-0", "--as", "lead@example.org",
                        "--value", "smi=no"), "family:", f"randomised to '{first['arm']}'")
    assert tw.trials.allocation(tw.admin, tw.fam_a[0])["arm"] == first["arm"]


def test_randomise_refusals_give_the_stores_reason(cli: Cli):
    _define(cli)
    tw = cli.tw
    err = _one_line_error(cli("randomise", "Trial T", "A-nc", "--as", "pa@example.org",
                              "--value", "smi=no"), "consent:", "no active 'research' consent")
    assert "record consent before randomising" in err
    _one_line_error(cli("randomise", "Trial T", "A-2", "--as", "pa@example.org"),
                    "values.smi", "yes, no")
    _one_line_error(cli("randomise", "Trial T", "A-2", "--as", "pa@example.org",
                        "--value", "smi=maybe"), "values.smi", "'maybe' is not one of")
    # another site's family does not exist for this practitioner
    _one_line_error(cli("randomise", "Trial T", str(tw.fam_b), "--as", "pa@example.org",
                        "--value", "smi=no"), "not found")
    _one_line_error(cli("randomise", "Trial T", "B-0", "--as", "pa@example.org",
                        "--value", "smi=no"), "'B-0' not found")
    # a researcher may not randomise
    _one_line_error(cli("randomise", "Trial T", "A-2", "--as", "res@example.org",
                        "--value", "smi=no"), "may not")
    # --as is required: the allocation records who randomised
    r = cli("randomise", "Trial T", "A-2", "--value", "smi=no")
    assert r.exit_code == 2 and "--as" in r.output
    assert tw.trials.list_allocations(tw.admin, tw.study) == []


# --------------------------------------------------------------- allocations, verify, balance


def _randomise_some(cli: Cli) -> list[dict]:
    _define(cli)
    tw = cli.tw
    for code, smi in (("A-0", "no"), ("A-1", "yes"), ("A-2", "no"), ("A-3", "no")):
        r = cli("randomise", "Trial T", code, "--as", "pa@example.org", "--value", f"smi={smi}")
        assert r.exit_code == 0, r.output
    r = cli("randomise", "Trial T", "B-0", "--as", "pb@example.org", "--value", "smi=yes")
    assert r.exit_code == 0, r.output
    return tw.trials.list_allocations(tw.admin, tw.study)


def test_allocations_table_and_csv(cli: Cli):
    stored = _randomise_some(cli)
    out = cli.tmp / "alloc.csv"
    r = cli("allocations", "Trial T", "--csv", str(out))
    assert r.exit_code == 0, r.output
    assert "Allocations (5)" in r.stdout and "pb@example.org" in r.stdout
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(x["sequence"]) for x in rows] == [a["sequence"] for a in stored]
    assert [x["arm"] for x in rows] == [a["arm"] for a in stored]
    assert [x["family_id"] for x in rows] == ["A-0", "A-1", "A-2", "A-3", "B-0"]
    assert [x["smi"] for x in rows] == ["no", "yes", "no", "no", "yes"]
    assert json.loads(rows[0]["details"]) == stored[0]["details"]
    # a practitioner recruits: the list is concealed from them, and no file is written
    out.unlink()
    _one_line_error(cli("allocations", "Trial T", "--as", "pb@example.org", "--csv",
                        str(out)), "allocation concealment")
    assert not out.exists()
    # a researcher: pseudonyms, shifted dates, no staff e-mail
    r = cli("allocations", "Trial T", "--as", "res@example.org", "--csv", str(out))
    assert r.exit_code == 0, r.output
    text_out = out.read_text()
    assert "A-0" not in text_out and "pa@example.org" not in text_out
    assert "A-0" not in r.stdout and "pa@example.org" not in r.stdout
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and all(x["allocated_on_shifted"] for x in rows)


def test_verify_clean_store_and_tampering(cli: Cli):
    stored = _randomise_some(cli)
    r = cli("verify", "Trial T")
    assert r.exit_code == 0, r.output
    assert "verified: 5 allocations replay from the seed" in r.stdout
    _one_line_error(cli("verify", "Trial T", "--as", "pa@example.org"), "may not")
    # someone with database access bypasses the immutability trigger and changes an arm
    tw = cli.tw
    other = next(a for a in DESIGN["arms"] if a != stored[2]["arm"])
    drop = ("DROP TRIGGER trial_allocations_no_update" if tw.store.dialect == "sqlite"
            else "DROP TRIGGER trial_allocations_no_change ON trial_allocations")
    with tw.store.db.write() as s:
        s.execute(text(drop))
        s.execute(text("UPDATE trial_allocations SET arm = :arm WHERE sequence = 3"),
                  {"arm": other})
    r = cli("verify", "Trial T")
    assert r.exit_code == 1, r.output
    assert "does NOT replay" in r.stderr and "allocation(s) 3 differ" in r.stderr


def test_balance_matches_the_store(cli: Cli):
    stored = _randomise_some(cli)
    r = cli("balance", "Trial T")
    assert r.exit_code == 0, r.output
    assert "Balance (blocks, ratio 1:1)" in r.stdout
    frame = cli.tw.trials.balance(cli.tw.admin, cli.tw.study)
    overall = frame[frame["group"] == "overall"].iloc[0]
    n_arm = {a: sum(x["arm"] == a for x in stored) for a in DESIGN["arms"]}
    assert overall["n"] == 5 and [overall[a] for a in DESIGN["arms"]] == list(n_arm.values())
    lines = [ln for ln in r.stdout.splitlines() if "overall" in ln]
    assert len(lines) == 1
    cells = [c.strip() for c in lines[0].strip("│┃ ").split("│")]
    assert cells[:5] == ["overall", "all", "5", str(n_arm["usual care"]), str(n_arm["VIPP-SD"])]
    for level in ("Site A", "Site B", "yes", "no"):
        assert level in r.stdout
    _one_line_error(cli("balance", "Nope"), "'Nope' not found")


# --------------------------------------------------------------------------------- CONSORT


def test_consort_counts_and_svg(cli: Cli):
    _randomise_some(cli)
    svg = cli.tmp / "consort.svg"
    r = cli("consort", "Trial T", "--svg", str(svg))
    assert r.exit_code == 0, r.output
    counts = cli.tw.trials.consort(cli.tw.admin, cli.tw.study)
    assert counts.assessed == 8 and counts.randomised == 5
    lines = {" ".join(c.strip() for c in ln.split("│") if c.strip()) for ln in
             r.stdout.splitlines()}
    assert "enrolment assessed for eligibility 8" in lines
    assert "enrolment randomised 5" in lines
    for arm in counts.arms:
        assert f"allocation {arm.arm} allocated {arm.allocated}" in lines
        assert f"analysis {arm.arm} analysed not recorded" in lines
    assert "awaiting randomisation 2" in lines and "awaiting consent 1" in lines
    body = svg.read_text()
    assert "<svg" in body and body.rstrip().endswith("</svg>")
    # per-arm counts are concealed from recruiters
    _one_line_error(cli("consort", "Trial T", "--as", "pb@example.org"),
                    "allocation concealment")
    # a researcher (trial statistician) sees them
    r = cli("consort", "Trial T", "--as", "res@example.org")
    assert r.exit_code == 0, r.output
    assert "enrolment randomised 5" in {
        " ".join(c.strip() for c in ln.split("│") if c.strip()) for ln in r.stdout.splitlines()}


def test_family_references_are_never_guessed(cli: Cli):
    """Randomising cannot be undone, so a family reference that could mean two families is
    refused with the ways to say which one."""
    _define(cli)
    tw = cli.tw
    n = tw.fam_a[0]
    system = tw.store.system_actor()
    twin = uc_families.register_family(tw.store, system, family_payload(str(n), "Site B"))["id"]  # code "1"
    dup = uc_families.register_family(tw.store, system, family_payload("A-1", "Site B"))["id"]  # "A-1" twice
    for f in (twin, dup):
        tw.store.care.add_consent(system, f, kind="research", version="v1",
                             given_on=dt.date.today().isoformat())
    _one_line_error(cli("randomise", "Trial T", str(n), "--as", "admin@example.org",
                        "--value", "smi=no"), "ambiguous", f"id:{n}", f"code:{n}")
    _one_line_error(cli("randomise", "Trial T", "A-1", "--as", "admin@example.org",
                        "--value", "smi=no"), "several sites", f"id:{dup} (Site B)")
    assert tw.trials.list_allocations(tw.admin, tw.study) == []
    r = cli("randomise", "Trial T", f"id:{n}", "--as", "admin@example.org", "--value", "smi=no")
    assert r.exit_code == 0, r.output
    r = cli("randomise", "Trial T", f"code:{n}", "--as", "pb@example.org", "--value", "smi=no")
    assert r.exit_code == 0, r.output
    got = {a["family"]: a["allocated_by"] for a in tw.trials.list_allocations(tw.admin, tw.study)}
    assert got == {n: "admin@example.org", twin: "pb@example.org"}
    # the practitioner at site A sees only one "A-1": no ambiguity for them
    r = cli("randomise", "Trial T", "A-1", "--as", "pa@example.org", "--value", "smi=no")
    assert r.exit_code == 0, r.output
    assert tw.trials.allocation(tw.admin, tw.fam_a[1])["allocated_by"] == "pa@example.org"


def test_the_old_study_trial_name_still_runs(cli: Cli):
    """`attunement study-trial ...` runs `attunement platform trial ...` after one note."""
    stored = _randomise_some(cli)
    env = {"COLUMNS": "240", "ATTUNEMENT_KEY_FILE": str(cli.key)}
    for args in (["verify", "Trial T"], ["allocations", "Trial T"], ["show", "Trial T"]):
        old = runner.invoke(app, ["study-trial", *args, "--db", cli.url], env=env)
        new = cli(*args)
        assert old.exit_code == new.exit_code == 0, old.output
        assert old.stdout == new.stdout and new.stderr == ""
        assert old.stderr == "note: `attunement study-trial` is now `attunement platform trial`\n"
    assert len(stored) == 5
