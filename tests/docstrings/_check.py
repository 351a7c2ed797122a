"""Which public callables a package has, and what numpydoc says of their docstrings.

The rule (``docs/architecture.md``, "Docstrings"):

- a public function or method (its name and its module's name without a leading underscore,
  defined in that module) has a numpydoc docstring: a summary, ``Parameters`` naming every
  parameter (``self``/``cls`` aside), ``Returns`` (or ``Yields``) when it returns something;
- a public module-level function, and a public class with public methods of its own, also
  has ``Examples`` that run (``tests/docstrings/test_examples.py``), except in the web and CLI
  packages, whose examples are ``/docs``, ``--help`` and the tests;
- a web route handler's docstring is its description in ``/docs``, and a CLI command's is its
  ``--help`` text: those need a summary only (their parameters are documented by the route's
  schema and the command's options);
- a property, an enum member and a dataclass's generated methods are not checked.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass

from numpydoc.validate import validate

FUNCTION_CHECKS = {"GL08", "SS01", "PR01", "PR02", "RT01", "YD01"}
EXAMPLE_CHECK = "EX01"
SUMMARY_ONLY = {"GL08", "SS01"}


@dataclass(frozen=True)
class Public:
    """A public callable, by its dotted name, and the checks it must pass."""

    name: str
    checks: frozenset[str]


def modules(package: str) -> Iterator[str]:
    """The package and its public modules, migrations aside."""
    yield package
    root = importlib.import_module(package)
    if not hasattr(root, "__path__"):
        return
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or "migrations" in parts:
            continue
        yield info.name


def _route_endpoints() -> set[object]:
    """The functions the web's routers call for a request (each resource module's routes)."""
    import attunement.web.api as api
    import attunement.web.pages as pages

    found: set[object] = set()
    for package in (api, pages):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            router = getattr(importlib.import_module(info.name), "router", None)
            for route in getattr(router, "routes", []):
                if getattr(route, "endpoint", None) is not None:
                    found.add(inspect.unwrap(route.endpoint))
    return found


def _is_command(module: str) -> bool:
    return module.startswith("attunement.cli") and module != "attunement.cli._common"


def publics(package: str) -> Iterator[Public]:
    """Every public function, class and method of ``package``, with its checks."""
    endpoints = _route_endpoints() if package.startswith("attunement.web") else set()
    for module_name in modules(package):
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            dotted = f"{module_name}.{name}"
            if inspect.isfunction(obj):
                if inspect.unwrap(obj) in endpoints or _is_command(module_name):
                    yield Public(dotted, frozenset(SUMMARY_ONLY))
                elif _in_app(module_name):
                    yield Public(dotted, frozenset(FUNCTION_CHECKS))
                else:
                    yield Public(dotted, frozenset(FUNCTION_CHECKS | {EXAMPLE_CHECK}))
            elif inspect.isclass(obj):
                methods = [] if _generated(obj) else _methods(obj)
                behaves = bool(methods) and not issubclass(obj, BaseException)
                example = {EXAMPLE_CHECK} if behaves and not _in_app(module_name) else set()
                yield Public(dotted, frozenset(SUMMARY_ONLY | example))
                for attr in methods:
                    yield Public(f"{dotted}.{attr}", frozenset(FUNCTION_CHECKS))


def _methods(cls: type) -> list[str]:
    """The public methods ``cls`` itself defines (properties and inherited ones aside)."""
    names = []
    for attr, member in vars(cls).items():
        func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if not attr.startswith("_") and inspect.isfunction(func):
            names.append(attr)
    return names


def _in_app(module: str) -> bool:
    """Web and CLI modules: their examples are ``/docs``, ``--help`` and the tests, which need
    a running app or a terminal; their functions still document parameters and returns."""
    return module.startswith(("attunement.web", "attunement.cli"))


def _generated(cls: type) -> bool:
    """Enums and NamedTuples: their members are data, not methods to document."""
    import enum

    return issubclass(cls, enum.Enum) or (issubclass(cls, tuple) and hasattr(cls, "_fields"))


def problems(package: str) -> list[str]:
    """One line per public callable whose docstring fails one of its checks."""
    found = []
    for public in publics(package):
        result = validate(public.name)
        errors = [f"{code} {msg}" for code, msg in result["errors"] if code in public.checks]
        if errors:
            found.append(f"{public.name}: " + "; ".join(errors))
    return found
