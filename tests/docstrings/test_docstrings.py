"""Every public callable has a numpydoc docstring, and the examples of each area run.

The rule and its reasons are in ``_check.py`` and ``docs/architecture.md`` ("Docstrings").
"""

from __future__ import annotations

import pytest

from ._check import problems

AREAS = {
    "store": ["attunement.store"],
    "platform": ["attunement.web", "attunement.usecases", "attunement.cli", "attunement.policy",
                 "attunement.content", "attunement.csvsafe", "attunement.demo",
                 "attunement._blas"],
    "statistics": ["attunement.evidence", "attunement.trials", "attunement.cascade"],
    "screening-and-observation": ["attunement.instruments", "attunement.risk",
                                  "attunement.interventions", "attunement.observation",
                                  "attunement.outreach", "attunement.vocabulary"],
}


@pytest.mark.parametrize("package", [p for ps in AREAS.values() for p in ps])
def test_public_callables_have_numpydoc_docstrings(package: str) -> None:
    assert problems(package) == []
