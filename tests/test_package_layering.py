"""A package's modules never import the package back: its ``__init__`` imports them, so such an
import is a cycle (the importers' workbook reader asked the package for ``detect_format``; the
outreach worker took ``planning`` and ``templates`` from the package)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["attunement.observation.importers", "attunement.outreach"])
def test_no_module_imports_its_own_package(package: str) -> None:
    folder = Path(importlib.import_module(package).__file__).parent
    offenders = []
    for path in folder.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if package in names:
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders


def test_detect_format_is_still_the_importers_package_s() -> None:
    from attunement.observation import importers
    from attunement.observation.importers._detect import detect_format

    assert importers.detect_format is detect_format
    assert importers.detect_format("a.xlsx") == "workbook"
