"""The importers package's modules never import the package back: ``__init__`` imports them
(the workbook reader used to ask the package for ``detect_format``, an import cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import attunement.observation.importers as importers

PKG = Path(importers.__file__).parent
NAME = "attunement.observation.importers"


def test_no_importer_module_imports_its_package() -> None:
    offenders = []
    for path in PKG.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module == NAME and not node.level) or (
                    isinstance(node, ast.Import) and any(a.name == NAME for a in node.names)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders


def test_detect_format_is_still_the_package_s() -> None:
    from attunement.observation.importers._detect import detect_format

    assert importers.detect_format is detect_format
    assert importers.detect_format("a.xlsx") == "workbook"
