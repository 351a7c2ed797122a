"""Project-wide checks: the code is lint-clean and the command line starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    result = subprocess.run(
        [ruff, "check", "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "attunement", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("attunement ")


def test_domain_libraries_do_not_import_platform_layers() -> None:
    """DESIGN.md: domain libraries never import store, web or cli."""
    domain = ["instruments", "risk", "interventions", "observation", "trials", "evidence"]
    offenders = []
    for name in domain:
        pkg = ROOT / "src" / "attunement" / name
        for path in pkg.rglob("*.py") if pkg.exists() else []:
            text = path.read_text()
            for layer in ("store", "web", "cli"):
                if f"attunement.{layer}" in text or f"from attunement import {layer}" in text:
                    offenders.append(f"{path.relative_to(ROOT)} imports attunement.{layer}")
    assert not offenders, offenders
