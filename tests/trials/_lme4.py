"""Comparisons of our mixed-model fits with lme4's saved output, shared by the trials tests."""

from __future__ import annotations

from typing import Any

import pytest


def check_fixed_effects(fit: Any, ref: dict, tol: dict[str, float]) -> None:
    """The fixed effects have R's names in R's order, and R's estimates and SEs within ``tol``
    (``fixef``: relative and absolute; ``se``: relative)."""
    fe = fit.fixed.set_index("term")
    assert list(fe.index) == list(ref["fixef"])  # R's names and order
    for term, value in ref["fixef"].items():
        assert fe.loc[term, "estimate"] == pytest.approx(value, rel=tol["fixef"],
                                                         abs=tol["fixef"]), term
        assert fe.loc[term, "se"] == pytest.approx(ref["se"][term], rel=tol["se"]), term
