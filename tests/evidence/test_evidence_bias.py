"""Egger regression test, rank test, trim-and-fill and fail-safe N against metafor 3.8-1."""

from __future__ import annotations

import numpy as np
import pytest

from attunement.evidence import fsn, ranktest, regtest, rma, rma_mh, rma_peto, trimfill

FITS = {"publication_bias_REML": "REML", "publication_bias_FE": "FE"}


@pytest.mark.parametrize("block", list(FITS))
def test_regtest_rma(metafor, dat, close, analysis, block):
    ref = metafor["analyses"][analysis][block]["regtest_rma"]
    res = rma(dat, method=FITS[block])
    eg = regtest(res)
    close(eg.zval, ref["stat"], what="z")
    close(eg.pval, ref["pval"], what="p")
    close([eg.est, eg.ci_lb, eg.ci_ub],
          [ref["limit_estimate"], ref["limit_ci_lb"], ref["limit_ci_ub"]], what="limit")
    for key in ("beta", "se", "ci_lb", "ci_ub", "pval"):
        close(getattr(eg.fit, key), ref["fit"][key], what=key)
    close(eg.fit.zval, ref["fit"]["stat"])
    close(eg.fit.tau2, ref["fit_tau2"], what="tau2")
    assert eg.ddf is None


@pytest.mark.parametrize("block", list(FITS))
def test_regtest_classical_egger(metafor, dat, close, analysis, block):
    ref = metafor["analyses"][analysis][block]["regtest_lm"]
    res = rma(dat, method=FITS[block])
    eg = regtest(res, model="lm")
    close([eg.zval, eg.pval], [ref["stat"], ref["pval"]], closed_form=True)
    assert eg.ddf == ref["df"]
    close([eg.est, eg.ci_lb, eg.ci_ub],
          [ref["limit_estimate"], ref["limit_ci_lb"], ref["limit_ci_ub"]], closed_form=True)
    close(eg.fit.estimate.to_numpy(), ref["fit_coef"], closed_form=True)
    close(eg.fit.se.to_numpy(), ref["fit_se"], closed_form=True)


@pytest.mark.parametrize("block", list(FITS))
def test_ranktest(metafor, dat, close, analysis, block):
    ref = metafor["analyses"][analysis][block]["ranktest"]
    res = rma(dat, method=FITS[block])
    rk = ranktest(res)
    close([rk.tau, rk.pval], [ref["tau"], ref["pval"]])


@pytest.mark.parametrize("block", list(FITS))
@pytest.mark.parametrize("estimator", ["L0", "R0"])
def test_trimfill(metafor, dat, close, analysis, block, estimator):
    ref = metafor["analyses"][analysis][block][f"trimfill_{estimator}"]
    res = rma(dat, method=FITS[block])
    tf = trimfill(res, estimator=estimator)
    assert tf.side == ref["side"]
    assert tf.k0 == ref["k0"]
    assert tf.model.k == ref["k_total"]
    close(tf.se_k0, ref["se_k0"], what="se_k0")
    close(np.nan if tf.p_k0 is None else tf.p_k0, ref["p_k0"], what="p_k0")
    m = tf.model
    for key, val in (("beta", m.beta), ("se", m.se), ("stat", m.zval), ("pval", m.pval),
                     ("ci_lb", m.ci_lb), ("ci_ub", m.ci_ub)):
        close(val, ref[key], what=key)
    close([m.tau2, m.I2, m.QE, m.QEp], [ref["tau2"], ref["I2"], ref["QE"], ref["QEp"]])
    close(m.yi, ref["yi"], what="filled yi")
    close(m.vi, ref["vi"], what="filled vi")
    assert tf.filled.tolist() == ref["filled"]


def test_trimfill_after_dl(metafor, dat, close, analysis):
    ref = metafor["analyses"][analysis]["trimfill_DL_L0"]
    tf = trimfill(rma(dat, method="DL"))
    assert (tf.side, tf.k0) == (ref["side"], ref["k0"])
    close([tf.model.beta[0], tf.model.se[0], tf.model.pval[0], tf.model.tau2],
          [ref["beta"][0], ref["se"][0], ref["pval"][0], ref["tau2"]])


def test_fail_safe_n(metafor, dat, close, analysis):
    ref = metafor["analyses"][analysis]["fail_safe_n"]

    r = fsn(dat.yi, dat.vi)
    assert r.fsnum == ref["Rosenthal"]["fsnum"]
    close(r.pval, ref["Rosenthal"]["pval"])
    o = fsn(dat.yi, dat.vi, type="Orwin")
    assert o.fsnum == ref["Orwin_default_target"]["fsnum"]
    close([o.meanes, o.target],
          [ref["Orwin_default_target"]["meanes"], ref["Orwin_default_target"]["target"]])
    b = fsn(dat.yi, dat.vi, type="Rosenberg")
    assert b.fsnum == ref["Rosenberg"]["fsnum"]
    close([b.meanes, b.pval], [ref["Rosenberg"]["meanes"], ref["Rosenberg"]["pval"]])


def test_regtest_rejects_collinear_predictor():
    res = rma([0.1, 0.3, 0.2, 0.5], [0.04] * 4)
    with pytest.raises(ValueError, match="collinear"):
        regtest(res)


@pytest.mark.parametrize("measure", ["OR", "RR", "RD", "Peto_OR"])
def test_mantel_haenszel_and_peto(metafor, datasets, close, measure):
    ref = metafor["analyses"]["bcg_RR"]["mantel_haenszel"][measure]
    cells = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
    if measure == "Peto_OR":
        res = rma_peto(datasets["bcg"], **cells)
    else:
        res = rma_mh(datasets["bcg"], measure=measure, **cells)
    for key, value in (("beta", res.beta), ("se", res.se), ("z", res.zval), ("pval", res.pval),
                       ("ci_lb", res.ci_lb), ("ci_ub", res.ci_ub), ("QE", res.QE),
                       ("QEp", res.QEp), ("I2", res.I2), ("H2", res.H2)):
        close(value, ref[key], what=key)
    for key in ("CMH", "CMH_p", "Tarone", "Tarone_p"):
        if ref.get(key) is not None:
            close(getattr(res, key), ref[key], what=key)
