"""rma_mh and rma_peto check their 2×2 tables as escalc does (one check for both)."""

from __future__ import annotations

import pandas as pd
import pytest

from attunement.evidence import escalc, rma_mh, rma_peto

TABLES = {"ai": [4, 6, 3], "bi": [119, 300, 228], "ci": [11, 29, 11], "di": [128, 274, 209]}


@pytest.mark.parametrize("pool", [rma_mh, rma_peto])
def test_group_sizes_that_disagree_with_the_cells_are_refused(pool) -> None:
    # n1i = ai + bi in rows 1 and 3 only: the size given for row 2 contradicts its cells
    bad = {**TABLES, "n1i": [123, 999, 231]}
    with pytest.raises(ValueError, match=r"n1i is not equal to ai \+ bi \(row 2\)"):
        pool(**bad)
    with pytest.raises(ValueError, match=r"n1i is not equal to ai \+ bi \(row 2\)"):
        escalc("OR", **bad)


@pytest.mark.parametrize("pool", [rma_mh, rma_peto])
def test_vectors_of_different_lengths_are_refused(pool) -> None:
    with pytest.raises(ValueError, match="not all of the same length"):
        pool(**{**TABLES, "di": [128, 274]})


@pytest.mark.parametrize("pool", [rma_mh, rma_peto])
def test_a_column_that_is_not_numeric_is_named(pool) -> None:
    data = pd.DataFrame({**TABLES, "ai": ["4", "six", "3"]})
    with pytest.raises(ValueError, match=r"column 'ai' \(for ai\) must be numeric"):
        pool(data)


@pytest.mark.parametrize("pool", [rma_mh, rma_peto])
def test_counts_that_are_not_whole_or_are_negative_are_refused(pool) -> None:
    with pytest.raises(ValueError, match=r"bi has negative counts \(row 3\)"):
        pool(**{**TABLES, "bi": [119, 300, -1]})
    with pytest.raises(ValueError, match=r"ci must be whole numbers of participants \(row 1\)"):
        pool(**{**TABLES, "ci": [11.5, 29, 11]})


@pytest.mark.parametrize("pool", [rma_mh, rma_peto])
def test_missing_counts_and_missing_cells_are_refused(pool) -> None:
    with pytest.raises(ValueError, match="missing counts in the 2x2 tables"):
        pool(**{**TABLES, "ai": [4, None, 3]})
    with pytest.raises(ValueError, match=r"needs bi \(or n1i\) and di \(or n2i\)"):
        pool(ai=TABLES["ai"], ci=TABLES["ci"], di=TABLES["di"])
