"""The docstring examples of the domain libraries run as tests.

Statistics examples quote the R call and its value (psych, survival ...); the values are also
checked against R's output in the tests of each package (``docs/statistics/coded-interaction.md``).
``attunement.risk.urgency`` is left out: it has no public function.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["attunement.content", "attunement.vocabulary", "attunement.cascade"] + [
    f"attunement.{name}" for name in (
        "instruments.assessment", "instruments.definition", "instruments.engine",
        "instruments.errors", "instruments.export", "instruments.frames", "instruments.textpack",
        "risk.definitions", "risk.family", "risk.profile", "risk.results",
        "interventions.catalogue", "interventions.matching",
        "observation.actors", "observation.agreement", "observation.datasets", "observation.errors", "observation.events",
        "observation.metrics", "observation.naive", "observation.report",
        "observation.responsiveness", "observation.scheme", "observation.sequential",
        "observation.timed_agreement", "observation.validation")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
