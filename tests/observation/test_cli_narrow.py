"""`observe metrics` and `observe agreement` in an 80-column terminal: nothing is cut."""

from __future__ import annotations

from typer.testing import CliRunner

from attunement.cli import app

runner = CliRunner()


def _run(*args: object) -> str:
    r = runner.invoke(app, ["observe", *map(str, args)], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    return r.stdout


def test_metrics_in_80_columns_is_readable(data_dir):
    out = _run("metrics", data_dir / "dyad021_plain.csv", "--cues", "cry,gaze to parent",
               "--responses", "soothe,vocalise", "--seed", 1)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    for name in ("responsiveness", "median_latency", "permutation_p", "adjusted_residual"):
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name


def test_agreement_in_80_columns_is_readable(data_dir, tmp_path):
    text = (data_dir / "dyad021.eaf").read_text()
    (tmp_path / "a.eaf").write_text(text)
    (tmp_path / "b.eaf").write_text(text.replace('TIME_VALUE="3000"', 'TIME_VALUE="3600"'))
    out = _run("agreement", tmp_path / "a.eaf", tmp_path / "b.eaf", "--codes", "cry,soothe")
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    assert any(line.split()[:1] == ["kappa"] for line in out.splitlines())
