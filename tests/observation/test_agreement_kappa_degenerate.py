"""Cohen's kappa CI when the large-sample variance is undefined, against psych 2.2.9.

Reference values: ``tests/reference/metafor_fixes.json`` (block ``kappa_degenerate``), made by
``tests/reference/metafor_fixes.R``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attunement.observation.agreement import cohen_kappa

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_fixes.json").read_text())


@pytest.mark.parametrize("case", sorted(REF["kappa_degenerate"]))
def test_kappa_ci_matches_psych(case: str) -> None:
    ref = REF["kappa_degenerate"][case]
    row = cohen_kappa(ref["r1"], ref["r2"], categories=[1, 2]).iloc[0]
    assert row["kappa"] == pytest.approx(ref["kappa"], abs=1e-12)
    assert row["se"] ** 2 == pytest.approx(ref["var_kappa"], abs=1e-12)
    assert row["ci_low"] == pytest.approx(ref["ci"][0], abs=1e-9)
    assert row["ci_high"] == pytest.approx(ref["ci"][1], abs=1e-9)
