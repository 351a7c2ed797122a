"""influence() and leave1out() against metafor 3.8-1."""

from __future__ import annotations

from attunement.evidence import rma


def test_influence(metafor, dat, close, analysis):
    ref = metafor["analyses"][analysis]["diagnostics_REML"]["influence"]
    inf = rma(dat).influence()
    for col in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight"):
        close(inf[col].to_numpy(), ref[col], what=col)
    close(inf["dfbs_intrcpt"].to_numpy(), ref["dfbetas_intrcpt"], what="dfbetas")
    assert inf["inf"].tolist() == ref["influential"]


def test_leave1out(metafor, dat, close, analysis):
    ref = metafor["analyses"][analysis]["diagnostics_REML"]["leave1out"]
    l1 = rma(dat).leave1out()
    for col, key in (("estimate", "estimate"), ("se", "se"), ("zval", "stat"), ("pval", "pval"),
                     ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("Q", "Q"), ("Qp", "Qp"),
                     ("tau2", "tau2"), ("I2", "I2"), ("H2", "H2")):
        close(l1[col].to_numpy(), ref[key], what=col)
