"""rma_batch(): many data sets in one vectorised pass give rma()'s numbers row by row."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from attunement.evidence import rma, rma_batch


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(7)
    n = rng.integers(20, 201, size=(60, 12))
    v = 4.0 / n
    tau2 = rng.choice([0.0, 0.01, 0.05, 0.3], size=(60, 1))
    y = rng.normal(0.3, np.sqrt(tau2 + v))
    return y, v


@pytest.mark.parametrize("method", ["FE", "DL", "HE", "ML", "REML", "EB", "PM"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_batch_equals_rma_row_by_row(sets, method, test):
    y, v = sets
    out = rma_batch(y, v, method=method, test=test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [rma(y[i], v[i], method=method, test=test) for i in range(len(y))]
    for col, get in (("estimate", lambda r: r.beta[0]), ("se", lambda r: r.se[0]),
                     ("pval", lambda r: r.pval[0]), ("ci_lb", lambda r: r.ci_lb[0]),
                     ("tau2", lambda r: r.tau2), ("I2", lambda r: r.I2),
                     ("QE", lambda r: r.QE), ("QEp", lambda r: r.QEp)):
        np.testing.assert_allclose(out[col].to_numpy(), [get(r) for r in fits],
                                   rtol=1e-9, atol=1e-12, err_msg=col)


def test_batch_input_errors():
    with pytest.raises(ValueError, match="shape"):
        rma_batch(np.zeros((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="positive"):
        rma_batch(np.zeros((2, 3)), np.zeros((2, 3)))


def test_batch_edge_rows_identical_effects_and_cycling_fisher_scoring():
    y = np.array([[0.0] * 14 + [1.0], [0.3] * 15])
    v = np.vstack([np.r_[np.ones(14), 0.125], np.linspace(0.01, 0.1, 15)])
    out = rma_batch(y, v, method="REML", maxiter=200)
    assert out.tau2[0] == pytest.approx(0.054203866082771, rel=1e-9)  # metafor, stepadj=0.5
    assert (out.tau2[1], out.I2[1]) == (0.0, 0.0)
