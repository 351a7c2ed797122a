"""The evidence package is layered: no import cycle among its modules (imports inside functions
count), no module over 900 lines, and one registry of τ² estimators behind ``rma``'s methods."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from attunement.evidence import METHODS, rma
from attunement.evidence.estimators import ESTIMATORS, Tau2Estimate, Tau2Estimator

PKG = Path(__file__).resolve().parents[2] / "src" / "attunement" / "evidence"
NAME = "attunement.evidence"


def _imports() -> dict[str, set[str]]:
    """Module → the package modules it imports (``from pkg import sub`` names ``pkg.sub``)."""
    modules = {NAME if p.stem == "__init__" else f"{NAME}.{p.stem}": p for p in PKG.glob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([NAME, *([node.module] if node.module else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            graph[mod] |= {t for t in targets if t in modules and t != mod}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n):], n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle_among_evidence_modules() -> None:
    assert _cycle(_imports()) is None, " -> ".join(_cycle(_imports()) or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_evidence_module_over_900_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PKG.glob("*.py")}
    assert not {n: s for n, s in sizes.items() if s > 900}


def test_every_method_has_one_registered_estimator() -> None:
    assert tuple(ESTIMATORS) == METHODS
    assert METHODS[:3] == ("EE", "FE", "CE")
    y = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79])
    v = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.01])
    w = np.ones(6)
    for method, estimator in ESTIMATORS.items():
        assert isinstance(estimator, Tau2Estimator)
        est = estimator.estimate(y, y - y.mean(), v, np.ones((6, 1)), w, rma(y, v).control)
        assert isinstance(est, Tau2Estimate)
        assert est.tau2 == rma(y, v, method=method, weights=w if method == "GENQ" else None).tau2
