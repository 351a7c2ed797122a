"""The web package's layering: no import cycle (imports inside functions count), and no
computation with the domain libraries (that is :mod:`attunement.usecases`'); the web reads
domain content only where listed here, each with the reason."""

from __future__ import annotations

import ast
from pathlib import Path

import attunement

SRC = Path(attunement.__file__).parent
WEB = SRC / "web"

# module -> domain imports it may have: read-only content shown on the pages
CONTENT_READS = {
    "attunement.web.content": {"attunement.instruments", "attunement.instruments.definition",
                               "attunement.instruments.textpack", "attunement.risk",
                               # the cut-offs of the caregiver's language, shown with their source
                               "attunement.instruments.language_cutoffs",
                               "attunement.vocabulary"},
    "attunement.web.settings": {"attunement.vocabulary"},
    "attunement.web.pages.families": {"attunement.interventions.catalogue"},
    "attunement.web.pages.observations": {"attunement.observation.actors"},
    "attunement.web.downloads": {"attunement.cascade"},  # the cascade table as CSV
    # the cascade's stage names and result type (computed by attunement.usecases.cascade)
    "attunement.web.api.cascade": {"attunement.cascade"},
    "attunement.web.pages.cascade": {"attunement.cascade"},
    # the demo's synthetic answers read the instruments' scores and the demo vignettes
    "attunement.web.demo": {"attunement.instruments", "attunement.demo"},
    # loads the definitions before the worker forks; starts the embedded outreach worker
    "attunement.web.server": {"attunement.instruments", "attunement.outreach.worker"},
}
DOMAIN = ("attunement.instruments", "attunement.risk", "attunement.interventions",
          "attunement.observation", "attunement.trials", "attunement.evidence",
          "attunement.cascade", "attunement.outreach", "attunement.demo", "attunement.vocabulary")


def _name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module ``path`` imports, anywhere in it; ``from pkg import sub`` counts as sub."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= subs if len(subs) == len(node.names) else {node.module, *subs}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_name(p): p for p in WEB.rglob("*.py")}
    return {name: {m for m in _imports(path, set(files)) if m in files and m != name}
            for name, path in files.items()}


def test_no_import_cycle_in_the_web_package() -> None:
    graph = _graph()
    assert "attunement.web.api.families" in graph and "attunement.web.pages.families" in graph
    seen: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for start in sorted(graph):
        if start not in seen:
            visit(start, [start])
    assert not cycles, cycles


def test_the_web_computes_nothing_with_the_domain_libraries() -> None:
    offenders = []
    for path in WEB.rglob("*.py"):
        name = _name(path)
        for imported in _imports(path, set()):
            if imported.startswith(DOMAIN) and imported not in CONTENT_READS.get(name, set()):
                offenders.append(f"{name} imports {imported}")
    assert not offenders, offenders
