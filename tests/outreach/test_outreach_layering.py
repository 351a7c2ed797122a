"""The outreach package's modules never import the package back: ``__init__`` imports the
worker (which used to take ``planning`` and ``templates`` from the package, an import cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import attunement.outreach as outreach

PKG = Path(outreach.__file__).parent


def test_no_outreach_module_imports_its_package() -> None:
    offenders = []
    for path in PKG.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module == "attunement.outreach"
                    and not node.level) or (isinstance(node, ast.Import) and any(
                        a.name == "attunement.outreach" for a in node.names)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders
