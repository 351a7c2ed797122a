"""The docstring examples (values checked against metafor) run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

# by name: the package's ``robust`` and ``vcalc`` are the functions, not the modules
MODULES = ["attunement.evidence"] + [f"attunement.evidence.{name}" for name in (
    "batch", "bias", "datasets", "diagnostics_more", "effect_sizes", "effect_sizes_binary",
    "effect_sizes_continuous", "estimators", "mantel_haenszel", "models", "multilevel",
    "permutation", "robust", "selection", "tests_anova", "transf", "vcalc")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
