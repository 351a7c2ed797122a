"""`attunement platform init / sites / users / audit verify / backup / restore` through
Typer's CliRunner."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from attunement.cli import app
from attunement.store import Store

runner = CliRunner()


@pytest.fixture
def cli(db_url, key_path, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTUNEMENT_KEY_FILE", str(key_path))
    monkeypatch.delenv("ATTUNEMENT_DB", raising=False)
    pw = tmp_path / "pw.txt"
    pw.write_text("a long admin passphrase\n")

    def run(*args: str, input: str | None = None, env_db: bool = False):
        argv = ["platform", *args] if env_db else ["platform", *args, "--db", db_url]
        env = {"ATTUNEMENT_DB": db_url} if env_db else None
        return runner.invoke(app, argv, input=input, env=env)

    run.pw = str(pw)  # type: ignore[attr-defined]
    return run


def test_init_sites_users_verify(cli, db_url, key_path):
    r = cli("init", "--admin-email", "Boss@Example.org", "--password-file", cli.pw)
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert cli("sites", "add", "North").exit_code == 0
    assert cli("sites", "add", "South", env_db=True).exit_code == 0  # $ATTUNEMENT_DB works
    r = cli(
        "users",
        "add",
        "p@example.org",
        "--role",
        "practitioner",
        "--site",
        "North",
        "--site",
        "South",
        "--password-file",
        cli.pw,
    )
    assert r.exit_code == 0, r.output
    assert "North, South" in r.output
    # no password file: a hidden prompt with confirmation
    r = cli(
        "users",
        "add",
        "r@example.org",
        "--role",
        "researcher",
        input="typed secret pass\ntyped secret pass\n",
    )
    assert r.exit_code == 0, r.output
    assert "typed secret pass" not in r.output
    st = Store.open(db_url, key_path=key_path)
    try:
        assert st.accounts.authenticate("boss@example.org", "a long admin passphrase").role == "admin"
        assert st.accounts.authenticate("r@example.org", "typed secret pass").role == "researcher"
        p = st.accounts.authenticate("p@example.org", "a long admin passphrase")
        assert len(p.site_ids) == 2
    finally:
        st.close()
    r = cli("audit", "verify")
    assert r.exit_code == 0 and "intact" in r.output
    r = cli("users", "list")
    assert "p@example.org" in r.output and "practitioner" in r.output


def test_cli_errors_name_the_problem(cli):
    assert cli("init", "--admin-email", "a@example.org", "--password-file", cli.pw).exit_code == 0
    r = cli("init", "--admin-email", "b@example.org", "--password-file", cli.pw)
    assert r.exit_code == 1 and "already has an administrator" in r.output
    r = cli(
        "users",
        "add",
        "x@example.org",
        "--role",
        "practitioner",
        "--site",
        "Atlantis",
        "--password-file",
        cli.pw,
    )
    assert r.exit_code == 1 and "sites.0" in r.output and "Atlantis" in r.output
    r = cli(
        "users",
        "add",
        "x@example.org",
        "--role",
        "practitioner",
        "--site",
        "A",
        "--password-file",
        "/nonexistent/pw",
    )
    assert r.exit_code == 1 and "cannot read password file" in r.output
    cli("sites", "add", "A")
    r = cli(
        "users",
        "add",
        "x@example.org",
        "--role",
        "practitioner",
        "--site",
        "A",
        "--expires",
        "soon",
        "--password-file",
        cli.pw,
    )
    assert r.exit_code == 1 and "expires_on" in r.output


def test_audit_verify_names_the_broken_row(cli, db_url):
    from sqlalchemy import create_engine, text

    cli("init", "--admin-email", "a@example.org", "--password-file", cli.pw)
    cli("sites", "add", "North")
    cli("sites", "add", "South")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text('UPDATE audit_log SET after = \'{"name":"Elsewhere"}\' WHERE id = 3'))
    engine.dispose()
    r = cli("audit", "verify")
    assert r.exit_code == 1 and "row 3" in r.output


def test_backup_and_restore_commands(cli, db_url, tmp_path, request):
    cli("init", "--admin-email", "a@example.org", "--password-file", cli.pw)
    cli("sites", "add", "North")
    dest = tmp_path / "b.backup"
    r = cli("backup", str(dest))
    assert r.exit_code == 0 and dest.exists(), r.output
    if db_url.startswith("sqlite"):
        target = f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        target = request.getfixturevalue("postgres_url")
    r = runner.invoke(app, ["platform", "restore", str(dest), "--db", target, "--yes"])
    assert r.exit_code == 0 and "audit log intact" in r.output, r.output
    r = runner.invoke(app, ["platform", "sites", "list", "--db", target])
    assert "North" in r.output


def test_old_top_level_names_still_run_with_a_note(cli, db_url):
    """`attunement sites ...` (and every other platform command moved under `platform`) still
    runs, printing what it always printed, with one note on stderr naming the new command."""
    assert cli("init", "--admin-email", "a@example.org", "--password-file", cli.pw).exit_code == 0
    r = runner.invoke(app, ["sites", "add", "North", "--db", db_url])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("site ") and "North" in r.stdout
    assert r.stderr == "note: `attunement sites` is now `attunement platform sites`\n"
    old = runner.invoke(app, ["sites", "list", "--db", db_url])
    new = runner.invoke(app, ["platform", "sites", "list", "--db", db_url])
    assert old.exit_code == new.exit_code == 0
    assert old.stdout == new.stdout and "North" in new.stdout
    assert new.stderr == ""
    r = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert r.exit_code == 0 and "audit log intact" in r.stdout
    assert "`attunement platform audit`" in r.stderr


def test_platform_errors_are_one_whole_line(cli):
    """A store error is one `error:` line on stderr, not wrapped at the console width, and a
    name in it is printed as given (brackets are not read as console markup)."""
    assert cli("init", "--admin-email", "a@example.org", "--password-file", cli.pw).exit_code == 0
    site = "[bold]Atlantis and its many outlying islands of the far western ocean[/bold]"
    r = cli("users", "add", "x@example.org", "--role", "practitioner", "--site", site,
            "--password-file", cli.pw)
    assert r.exit_code == 1
    assert r.stderr.startswith("error: sites.0") and r.stderr.count("\n") == 1, r.stderr
    assert site in r.stderr


def test_a_database_that_cannot_be_opened_is_named(tmp_path):
    r = runner.invoke(app, ["platform", "sites", "list", "--db", "nosuchdriver://x"],
                      env={"ATTUNEMENT_KEY_FILE": str(tmp_path / "k.key")})
    assert r.exit_code == 1 and r.stderr.startswith("error: cannot open the database:")
