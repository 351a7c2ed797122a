"""The house rules of the code base (docs/architecture.md), checked on the source tree.

Each rule is one the design review asked for: no module over 900 lines (migrations aside), no class
over 40 methods, no import cycle (imports inside functions count), domain libraries that never
import the platform, a store that never imports the web, the CLI, the use cases or a domain
library, role tests only in the policy module, and comments that cite the repository's docs or published sources only.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "attunement"
DOMAIN = ("instruments", "risk", "interventions", "observation", "trials", "evidence", "cascade")
PLATFORM = ("store", "web", "cli", "usecases")
MAX_LINES = 900
MAX_METHODS = 40


@cache
def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"))


def _is_migration(name: str) -> bool:
    return ".migrations." in name


def imports_of(name: str) -> set[str]:
    """Every module of the package that ``name`` imports, at the top or inside a function.

    ``from pkg import sub`` counts as importing ``pkg.sub`` when ``sub`` is a module; importing a
    submodule does not count as importing its parent package (Python runs the parent's
    ``__init__`` first, but a tool that counted it would see every package as a cycle).
    """
    mods = modules()
    path = mods[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in mods)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in mods:
                    found.add(sub)
                elif module in mods:
                    found.add(module)
    found.discard(name)
    return found


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {name: imports_of(name) for name in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def test_the_checker_sees_a_cycle_and_an_in_function_import(tmp_path, monkeypatch):
    pkg = tmp_path / "attunement"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from attunement.a import y\n")
    (pkg / "a" / "y.py").write_text("def f():\n    from . import x\n")
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    modules.cache_clear()
    tree.cache_clear()
    try:
        assert import_cycles() == [["attunement.a.x", "attunement.a.y"]]
    finally:
        modules.cache_clear()
        tree.cache_clear()


def test_no_import_cycle():
    assert import_cycles() == []


def test_no_module_over_900_lines():
    long = {
        name: n
        for name, path in modules().items()
        if not _is_migration(name) and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_class_over_40_methods():
    big = {}
    for name in modules():
        for node in ast.walk(tree(name)):
            if isinstance(node, ast.ClassDef):
                n = sum(isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef) for b in node.body)
                if n > MAX_METHODS:
                    big[f"{name}.{node.name}"] = n
    assert big == {}


@pytest.mark.parametrize("layer", DOMAIN)
def test_domain_libraries_never_import_the_platform(layer):
    offending = {
        name: sorted(t for t in imports_of(name) if t.split(".")[1] in PLATFORM)
        for name in modules()
        if name.split(".")[1:2] == [layer]
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_store_never_imports_web_cli_or_use_cases():
    offending = {
        name: sorted(t for t in imports_of(name) if t.split(".")[1] in ("web", "cli", "usecases"))
        for name in modules()
        if name.startswith("attunement.store")
    }
    assert {k: v for k, v in offending.items() if v} == {}


# Documents that are not in the repository: the design notes and reference folders the project
# was built from, and issue numbers of a tracker a reader of the code cannot see.
_OUTSIDE = re.compile(r"\.\./shared|shared/reference|\bDESIGN\.md\b|\bstats\.md\b|\bissue \d+\b", re.I)


def test_comments_cite_only_the_repository_or_published_sources():
    found = []
    files = [p for n, p in modules().items() if not _is_migration(n)]
    files += sorted(PACKAGE.rglob("*.html")) + sorted(PACKAGE.rglob("*.yaml"))
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _OUTSIDE.search(line):
                found.append(f"{path.relative_to(SRC)}:{lineno}: {line.strip()}")
    assert found == []


# The store imports no domain library: the use-case layer (attunement.usecases) is the one that
# imports both, and hands the store what it needs (the scorer, the family-file check, the
# referrals' content, the instruments' export columns, the observation measurer, the
# randomisation, the catalogue's programmes and the instruments' coded variants).
def test_the_store_imports_no_domain_library():
    found = {
        name: sorted(t for t in imports_of(name) if t.split(".")[1] in DOMAIN)
        for name in modules()
        if name.startswith("attunement.store")
    }
    assert {k: v for k, v in found.items() if v} == {}


# --------------------------------------------------------------- role tests only in the policy

# A user's role (``actor.role``, ``user.role``, ``User.role``, ``u["role"]``) compared with
# anything, or any role compared with a user role's name or a policy role constant, is an access
# decision and belongs in ``attunement.policy``. Caregiver roles (``cg["role"]``, a caregiver
# form's ``role``) and coding-scheme roles (``cue`` / ``response``) are other things and compare
# with their own lists, so they are not caught.
_USER_ROLE_NAMES = {"admin", "practitioner", "site_lead", "researcher", "system"}
_POLICY_ROLE_CONSTANTS = {"ADMIN", "SITE_LEAD", "PRACTITIONER", "RESEARCHER", "SYSTEM", "GLOBAL",
                          "CLINICAL", "SITE_ROLES", "UNBLINDED", "LEAD_MANAGES", "RANDOMISERS"}
_ACCOUNT_NAMES = {"actor", "user", "u", "account", "subject", "User"}
# role comparisons outside the policy that are not access decisions, each with its reason
_NOT_ACCESS = {
    # "does this store have an administrator yet?" (first-run set-up), a question about data
    ("attunement.store.accounts", 'User.role == policy.ADMIN'),
    # which roles a new account needs a site for: validating the account being made
    ("attunement.store.accounts", 'role in policy.SITE_ROLES'),
    # whom a caregiver's message notifies (the site's practitioners, else its leads)
    ("attunement.store.outreach", 'm.role == policy.PRACTITIONER'),
    ("attunement.store.outreach", 'm.role == policy.SITE_LEAD'),
}
_TEMPLATE_ROLE_TEST = re.compile(
    r"\b(?:actor|user|u)\.role\s*(?:==|!=|\bnot\s+in\b|\bin\b)"
    r"|\brole\s*(?:==|!=|\bnot\s+in\b|\bin\b)\s*[(\[]?\s*['\"](?:"
    + "|".join(sorted(_USER_ROLE_NAMES)) + r")['\"]")


def _is_role(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Attribute) and node.attr == "role")
            or (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                and node.slice.value == "role")
            or (isinstance(node, ast.Name) and node.id == "role"))


def _of_account(node: ast.AST) -> bool:
    base = getattr(node, "value", None)
    return ((isinstance(base, ast.Name) and base.id in _ACCOUNT_NAMES)
            or (isinstance(base, ast.Attribute) and base.attr == "actor"))


def _names_a_user_role(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and sub.value in _USER_ROLE_NAMES:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in _POLICY_ROLE_CONSTANTS:
            return True
        if isinstance(sub, ast.Name) and sub.id in _POLICY_ROLE_CONSTANTS:
            return True
    return False


def role_tests(source: str) -> list[tuple[int, str]]:
    """The user-role comparisons in Python ``source``: ``(line, expression)``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        roles = [o for o in operands if _is_role(o)]
        if not roles:
            continue
        others = [o for o in operands if not _is_role(o)]
        if any(_of_account(r) for r in roles) or any(_names_a_user_role(o) for o in others):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_role_test_finder_tells_user_roles_from_caregiver_roles():
    caught = role_tests(
        "actor.role == 'admin'\nuser['role'] in ('practitioner', 'site_lead')\n"
        "self.actor.role != x\nrole in (policy.ADMIN, 'researcher')\nu.role not in GLOBAL\n")
    assert [line for line, _ in caught] == [1, 2, 3, 4, 5]
    assert role_tests("cg['role'] not in rule.roles\nrole not in CAREGIVER_ROLES\n"
                      "d.role == 'cue'\nrole == owner\n") == []
    assert _TEMPLATE_ROLE_TEST.search("{% if actor.role in ('practitioner', 'admin') %}")
    assert _TEMPLATE_ROLE_TEST.search("{% set r = user.role == 'admin' %}")
    assert not _TEMPLATE_ROLE_TEST.search("{{ role_names.get(actor.role, actor.role) }}")
    assert not _TEMPLATE_ROLE_TEST.search("{{ c.role | role }}")


def test_only_the_policy_tests_a_users_role():
    found = []
    for name, path in modules().items():
        if name == "attunement.policy" or _is_migration(name):
            continue
        for line, expr in role_tests(path.read_text(encoding="utf-8")):
            if (name, expr) not in _NOT_ACCESS:
                found.append(f"{path.relative_to(SRC)}:{line}: {expr}")
    for path in sorted(PACKAGE.rglob("*.html")):
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _TEMPLATE_ROLE_TEST.search(text):
                found.append(f"{path.relative_to(SRC)}:{line}: {text.strip()}")
    assert found == []
