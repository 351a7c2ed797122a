"""Global rating scales shipped as observational instruments (structure and ranges only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import attunement
from attunement.instruments.definition import load_definition

DEFS = Path(attunement.__file__).parent / "instruments" / "definitions"
EXPECTED = {
    "obs_ainsworth_sensitivity.yaml": ("ainsworthmcs", 4, (1, 9)),
    "obs_care_index.yaml": ("careindex", 7, (0, 14)),
    "obs_emotional_availability.yaml": ("eas", 6, (1, 7)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rating_scale_definitions_load_as_observations(name):
    inst_id, n_items, (lo, hi) = EXPECTED[name]
    raw = __import__("yaml").safe_load((DEFS / name).read_text())
    assert raw["kind"] == "observation" and raw["respondent"] == "observer"
    assert raw["licence"]["wording_bundled"] is False
    assert len(raw["items"]) == n_items
    for scale in raw["scales"]:
        if len(scale["items"]) == 1:
            assert scale["range"] == [lo, hi]
    assert load_definition(DEFS / name).id == inst_id


def test_rating_scores_and_out_of_range_values():
    df = pd.DataFrame({f"ainsworthmcs_{i}": [v] for i, v in zip(range(1, 5), [7, 5, 6, 9],
                                                                 strict=True)})
    out = attunement.score("ainsworthmcs", df)
    assert out["ainsworthmcs_sensitivity"].iloc[0] == 7
    assert out["ainsworthmcs_accessibility"].iloc[0] == 9
    bad = df.assign(ainsworthmcs_1=[10])
    with pytest.raises(ValueError, match=r"ainsworthmcs_1: 10 is out of range \(scores 1–9\)"):
        attunement.score("ainsworthmcs", bad)
