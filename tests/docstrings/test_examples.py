"""The docstring examples of every library module run as tests.

Statistics examples quote the R call and its value; the values are also checked against R's
saved output in each package's own tests (``docs/statistics/``). Store examples run against a
fresh store that ``globs.py`` builds for each module (the names it provides are listed in
``attunement.store``'s module docstring).
"""

from __future__ import annotations

import doctest
import importlib

import pytest

from ._check import modules
from .globs import globs_for
from .test_docstrings import AREAS

MODULES = [m for pkgs in AREAS.values() for p in pkgs for m in modules(p)
           if not m.startswith(("attunement.web", "attunement.cli"))]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path) -> None:
    module = importlib.import_module(name)
    with globs_for(name, tmp_path) as extra:
        result = doctest.testmod(module, extraglobs=extra, report=True,
                                 optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
