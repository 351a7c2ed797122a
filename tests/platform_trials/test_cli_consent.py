"""`attunement platform trial consent|withdraw-consent`: consent recorded from the command line
makes a family randomisable there (it used to be API-only, a dead end in the CLI)."""

from __future__ import annotations

import datetime as dt

from .test_cli_trials import Cli, _define, _one_line_error, cli  # noqa: F401  (fixture)


def test_consent_then_randomise_then_withdraw(cli: Cli):  # noqa: F811
    _define(cli)
    tw = cli.tw
    today = dt.date.today().isoformat()
    r = cli("consent", "Trial T", "A-nc", "--version", "v2", "--given-on", today,
            "--as", "pa@example.org")
    assert r.exit_code == 0, r.output
    assert f"research (form v2) given by family A-nc on {today}" in r.stdout
    consents = tw.store.families.get_family(tw.admin, tw.fam_a_no_consent)["consents"]
    assert [(c["kind"], c["version"], c["active"]) for c in consents] == [("research", "v2", True)]
    r = cli("randomise", "Trial T", "A-nc", "--as", "pa@example.org", "--value", "smi=no")
    assert r.exit_code == 0, r.output
    # withdrawal is recorded (the consent row is kept) and audited as the user
    r = cli("withdraw-consent", "Trial T", "A-nc", "--on", today, "--reason", "moved away",
            "--as", "pa@example.org")
    assert r.exit_code == 0, r.output
    consents = tw.store.families.get_family(tw.admin, tw.fam_a_no_consent)["consents"]
    assert consents[0]["active"] is False and consents[0]["withdrawn_on"] == today
    entry = tw.store.maintenance.audit_log(tw.admin, limit=1)[0]
    assert entry["entity"] == "consent" and entry["actor"] == "pa@example.org"
    assert entry["reason"] == "moved away"


def test_consent_errors_name_the_option(cli: Cli):  # noqa: F811
    _define(cli)
    _one_line_error(cli("consent", "Trial T", "A-nc", "--version", "v2", "--given-on",
                        "31/12/2026"), "--given-on", "YYYY-MM-DD")
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    _one_line_error(cli("consent", "Trial T", "A-nc", "--version", "v2", "--given-on", future),
                    "given_on", "future")
    _one_line_error(cli("withdraw-consent", "Trial T", "A-nc", "--on",
                        dt.date.today().isoformat(), "--reason", "x"),
                    "no active 'research' consent")
    assert cli.tw.store.families.get_family(cli.tw.admin, cli.tw.fam_a_no_consent)["consents"] == []
