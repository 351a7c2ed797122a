"""The docstring examples (values checked against metafor) run as tests."""

from __future__ import annotations

import doctest

import pytest

import attunement.evidence
from attunement.evidence import (
    bias,
    datasets,
    diagnostics_more,
    effect_sizes,
    effect_sizes_binary,
    effect_sizes_continuous,
    estimators,
    mantel_haenszel,
    models,
    multilevel,
    permutation,
    selection,
    tests_anova,
    transf,
)


@pytest.mark.parametrize("module", [attunement.evidence, bias, datasets, diagnostics_more,
                                    effect_sizes, effect_sizes_binary, effect_sizes_continuous,
                                    estimators, mantel_haenszel, models, multilevel, permutation,
                                    selection, tests_anova, transf])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
