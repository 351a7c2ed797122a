"""Stratified permuted blocks and Pocock–Simon minimisation (platforms.md §3)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attunement.trials.randomisation import (
    DesignError,
    RandomisationDesign,
    Randomiser,
    _all_blocks,
    allocate_participants,
    balance_report,
    verify_allocations,
)


def _participants(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": [f"P{i:03d}" for i in range(n)],
        "centre": rng.choice(["c1", "c2", "c3"], n),
        "parity": rng.choice(["primiparous", "multiparous"], n),
        "smi": rng.choice(["yes", "no"], n, p=[0.2, 0.8]),
    })


BLOCKS = {"method": "blocks", "arms": ["A", "B"], "ratio": [1, 1], "block_sizes": [4, 6],
          "strata": ["centre", "parity"]}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 120),
       ratio=st.sampled_from([(1, 1), (2, 1), (1, 1, 1)]))
def test_blocks_balanced_at_every_complete_block(seed: int, n: int, ratio: tuple) -> None:
    arms = ["A", "B", "C"][: len(ratio)]
    unit = sum(ratio)
    design = RandomisationDesign.from_dict({
        "method": "blocks", "arms": arms, "ratio": list(ratio),
        "block_sizes": [unit, 2 * unit, 3 * unit], "strata": ["centre", "parity"]})
    _, recs = allocate_participants(design, _participants(n, seed), secret=seed)
    by_stratum: dict[str, list] = {}
    for r in recs:
        by_stratum.setdefault(r.stratum, []).append(r)
    for seq in by_stratum.values():
        done = 0
        for i, r in enumerate(seq):
            if r.details["position_in_block"] == r.details["block_size"]:
                counts = Counter(x.arm for x in seq[: i + 1])
                total = i + 1
                for a, w in zip(arms, ratio, strict=True):
                    assert counts[a] * unit == total * w
                done += 1
        assert all(r.details["block_size"] in design.block_sizes for r in seq)


def test_block_permutations_cover_the_possible_blocks() -> None:
    """Test vector of platforms.md §3.1: the 6 blocks of AABB appear and nothing else."""
    design = RandomisationDesign.from_dict({"method": "blocks", "arms": ["A", "B"],
                                            "ratio": [1, 1], "block_sizes": [4]})
    r = Randomiser(design, secret="vector")
    for i in range(4 * 300):
        r.allocate(str(i))
    blocks = {tuple(a.arm for a in r.history[i: i + 4]) for i in range(0, 1200, 4)}
    assert blocks == _all_blocks(["A", "B"], [1, 1], 4)
    assert len(_all_blocks(["A", "B"], [1, 1], 6)) == 20


def test_same_seed_reproduces_and_other_seed_differs() -> None:
    design = RandomisationDesign.from_dict(BLOCKS)
    p = _participants(80)
    a, recs = allocate_participants(design, p, secret="s3cret", id_column="id")
    b, _ = allocate_participants(design, p, secret="s3cret", id_column="id")
    c, _ = allocate_participants(design, p, secret="other", id_column="id")
    assert a["arm"].tolist() == b["arm"].tolist()
    assert a["arm"].tolist() != c["arm"].tolist()
    assert verify_allocations(design, "s3cret", recs) == []
    assert verify_allocations(design, "other", recs) != []


def test_allocation_records_carry_inputs_and_audit_hooks() -> None:
    from datetime import UTC, datetime

    design = RandomisationDesign.from_dict(BLOCKS)
    r = Randomiser(design, "k", clock=lambda: datetime(2026, 1, 2, tzinfo=UTC))
    rec = r.allocate("P1", {"centre": "c1", "parity": "primiparous"}, actor="hv-12")
    assert rec.inputs == {"centre": "c1", "parity": "primiparous"}
    assert rec.actor == "hv-12" and rec.timestamp.startswith("2026-01-02")
    assert rec.algorithm.startswith("attunement.trials.randomisation/")
    with pytest.raises(DesignError, match="already been allocated"):
        r.allocate("P1", {"centre": "c1", "parity": "primiparous"})
    with pytest.raises(DesignError, match="'parity' is empty"):
        r.allocate("P2", {"centre": "c1", "parity": ""})
    assert not hasattr(r, "peek") and not hasattr(r, "next_arm")


def test_minimisation_worked_vector() -> None:
    """platforms.md §3.2: S1 (A 3, B 2), primiparous (A 5, B 4) → G(A) = 4, G(B) = 0, P(B) = 0.8."""
    design = RandomisationDesign.from_dict({"method": "minimisation", "arms": ["A", "B"],
                                            "factors": ["site", "parity"], "p": 0.8})
    r = Randomiser(design, "x")
    r._counts = {"site": {"S1": [3, 2]}, "parity": {"primiparous": [5, 4]}}
    rec = r.allocate("new", {"site": "S1", "parity": "primiparous"})
    assert rec.details["imbalance_scores"] == {"A": 4.0, "B": 0.0}
    assert rec.details["preferred"] == ["B"]
    assert rec.details["probabilities"] == pytest.approx({"A": 0.2, "B": 0.8})
    assert rec.arm == ("B" if rec.details["draw"] >= 0.2 else "A")


def test_minimisation_small_imbalance_and_not_deterministic() -> None:
    design = RandomisationDesign.from_dict({"method": "minimisation", "arms": ["A", "B"],
                                            "factors": ["centre", "parity", "smi"],
                                            "weights": [2, 1, 1], "p": 0.8})
    p = _participants(200, seed=3)
    seqs = []
    for seed in range(5):
        out, recs = allocate_participants(design, p, secret=seed)
        rep = balance_report(design, out)
        assert rep["max_imbalance"].max() <= 4, rep
        seqs.append(tuple(out["arm"]))
        # a random element: sometimes the non-preferred arm is chosen
        against = sum(r.arm not in r.details["preferred"] for r in recs)
        assert 0 < against < 0.35 * len(recs)
    assert len(set(seqs)) == 5
    # simple randomisation for comparison is far less balanced on average (sanity)
    det = RandomisationDesign.from_dict({"method": "minimisation", "arms": ["A", "B"],
                                         "factors": ["centre"], "p": 1.0})
    out, recs = allocate_participants(det, p, secret=1)
    assert all(r.arm in r.details["preferred"] for r in recs)


def test_unequal_ratio_blocks_and_minimisation() -> None:
    d = RandomisationDesign.from_dict({"method": "blocks", "arms": ["T", "C"], "ratio": [2, 1],
                                       "block_sizes": [3, 6], "strata": ["centre"]})
    out, _ = allocate_participants(d, _participants(300, 1), secret=5)
    share = (out["arm"] == "T").mean()
    assert abs(share - 2 / 3) < 0.03
    m = RandomisationDesign.from_dict({"method": "minimisation", "arms": ["T", "C"],
                                       "ratio": [2, 1], "factors": ["centre"], "p": 0.9})
    out, _ = allocate_participants(m, _participants(300, 1), secret=5)
    assert abs((out["arm"] == "T").mean() - 2 / 3) < 0.05


@pytest.mark.parametrize(("change", "message"), [
    ({"block_sizes": [4, -2]}, "positive whole numbers"),
    ({"block_sizes": [4, 5]}, "not a multiple"),
    ({"ratio": [1, 1, 1]}, "3 entries but there are 2 arms"),
    ({"ratio": [1, 0]}, "positive whole numbers"),
    ({"method": "urn"}, "'blocks' or 'minimisation'"),
    ({"arms": ["A"], "ratio": [1]}, "at least two arms"),
    ({"colour": "red"}, "unknown key"),
])
def test_bad_designs_get_clear_errors(change: dict, message: str) -> None:
    with pytest.raises(DesignError, match=message):
        RandomisationDesign.from_dict(BLOCKS | change)


def test_bad_minimisation_designs_and_participant_files() -> None:
    base = {"method": "minimisation", "arms": ["A", "B"], "factors": ["centre"]}
    with pytest.raises(DesignError, match="'p'"):
        RandomisationDesign.from_dict(base | {"p": 1.5})
    with pytest.raises(DesignError, match="'weights'"):
        RandomisationDesign.from_dict(base | {"weights": [1, 2]})
    design = RandomisationDesign.from_dict(BLOCKS | {"strata": ["centre", "region"]})
    with pytest.raises(DesignError, match=r"\['region'\]"):
        allocate_participants(design, _participants(5), secret=1, source="p.csv")
    design = RandomisationDesign.from_dict(BLOCKS)
    p = _participants(5)
    p.loc[2, "parity"] = None
    with pytest.raises(DesignError, match=r"row 4 .*'parity'"):
        allocate_participants(design, p, secret=1, source="p.csv")


def test_resume_from_stored_history_continues_the_same_sequence() -> None:
    design = RandomisationDesign.from_dict(BLOCKS)
    p = _participants(30)
    _, full = allocate_participants(design, p, secret="k", id_column="id")
    r = Randomiser.resume(design, "k", full[:17])
    rest = [r.allocate(row.id, {"centre": row.centre, "parity": row.parity})
            for row in p.iloc[17:].itertuples()]
    assert [a.arm for a in rest] == [a.arm for a in full[17:]]
    with pytest.raises(DesignError, match="does not match"):
        Randomiser.resume(design, "wrong", full[:17])
