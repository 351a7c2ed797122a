"""rma_mv (metafor's rma.mv), robust() on it and vcalc against metafor 3.8-1 / clubSandwich 0.5.8.

Fixture: tests/reference/rmamv_reference.json from tests/reference/rmamv_reference.R. metafor's
optimiser (nlminb) was tightened to rel.tol 1e-12, or 1e-10 where it stops short at 1e-12
(``rel_tol`` in each fit), so agreement is held to the task's tolerance for ML/REML optima:
estimates and variance components 1e-5 relative, SEs and p-values 1e-4; closed-form parts
(QE, vcalc) tighter; p-values below 1e-8 are compared to 1e-12 absolute. Where the two optima differ, ours is never the lower likelihood.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import rma_mv, vcalc

REF = json.loads((Path(__file__).parents[1] / "reference" / "rmamv_reference.json").read_text())
EST, SE = 1e-5, 1e-4

FITS = {
    ("konstantopoulos2011", "three_level_REML"): dict(random="~ 1 | district/school"),
    ("konstantopoulos2011", "three_level_ML"): dict(random="~ 1 | district/school",
                                                    method="ML"),
    ("konstantopoulos2011", "year_t"): dict(random="~ 1 | district/school", mods="~ year",
                                            test="t"),
    ("konstantopoulos2011", "list_terms"): dict(random=["~ 1 | district", "~ 1 | study"]),
    ("konstantopoulos2011", "boundary_56_58_108"): dict(random="~ 1 | district/school"),
    ("konstantopoulos2011", "one_district_644"): dict(random="~ 1 | district/school"),
    ("berkey1998", "UN_REML"): dict(random="~ outcome | trial", struct="UN",
                                    mods="~ outcome - 1"),
    ("berkey1998", "UN_ML"): dict(random="~ outcome | trial", struct="UN",
                                  mods="~ outcome - 1", method="ML"),
    ("berkey1998", "UN_year"): dict(random="~ outcome | trial", struct="UN",
                                    mods="~ outcome + outcome:I(year - 1983) - 1"),
    ("berkey1998", "CS_contrast"): dict(random="~ outcome | trial", struct="CS",
                                        mods="~ outcome"),
    ("assink2016", "three_level"): dict(random="~ 1 | study/esid"),
    ("assink2016", "deltype"): dict(random="~ 1 | study/esid", mods="~ deltype"),
    ("assink2016", "vcalc_deltype"): dict(random="~ 1 | study/esid", mods="~ deltype"),
    ("assink2016", "study_plus_deltype_ID"): dict(random=["~ 1 | study", "~ deltype | study"],
                                                  struct="ID"),
    ("assink2016", "deltype_DIAG"): dict(random="~ deltype | study", struct="DIAG"),
    **{("ishak2007", s): dict(random="~ time | study", struct=s, mods="~ factor(time) - 1")
       for s in ("CS", "HCS", "AR", "ID", "UN")},
    ("ishak2007", "AR_ML"): dict(random="~ time | study", struct="AR",
                                 mods="~ factor(time) - 1", method="ML"),
    ("ishak2007", "vcalc_AR"): dict(random="~ time | study", struct="AR",
                                    mods="~ factor(time) - 1"),
}
#: all six UN correlations sit at the bound 1 (G of rank one): metafor's tanh-transformed
#: correlations stop at 1 - 5e-10 with τ² 3.5e-5 away, at a REML log-likelihood 9e-9 below ours
LOOSE = {("ishak2007", "UN"): 1e-4}
ROBUST = [("assink2016", "three_level"), ("assink2016", "deltype"),
          ("assink2016", "vcalc_deltype"), ("ishak2007", "vcalc_AR")]


def _data(ds: str) -> pd.DataFrame:
    return pd.DataFrame(REF[ds]["data"])


def _V(ds: str, name: str):
    if name.startswith("vcalc"):
        return np.array(REF[ds]["vcalc_rho06" if ds == "assink2016" else "vcalc_phi097"])
    return np.array(REF[ds]["V"]) if ds == "berkey1998" else "vi"


_cache: dict = {}


#: fits on part of a data set (metafor's subset =)
SUBSETS = {"boundary_56_58_108": ("district", [56, 58, 108]),
           "one_district_644": ("district", [644])}


def _fit(ds: str, name: str):
    if (ds, name) not in _cache:
        data = _data(ds)
        if name in SUBSETS:
            col, keep = SUBSETS[name]
            data = data[data[col].isin(keep)].reset_index(drop=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _cache[ds, name] = rma_mv("yi", _V(ds, name), data=data, **FITS[ds, name])
        _cache[ds, name].caught = [str(w.message) for w in caught]
    return _cache[ds, name]


def _close(actual, expected, rtol, what, atol=1e-8):
    exp = np.array([np.nan if v is None else v for v in np.atleast_1d(expected)], dtype=float)
    act = np.atleast_1d(np.asarray(actual, dtype=float))
    if exp.size == 1:  # metafor gives one ddf when all coefficients share it
        exp = np.broadcast_to(exp, act.shape)
    np.testing.assert_allclose(act, exp,
                               rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.mark.parametrize(("ds", "name"), list(FITS), ids=[f"{d}-{n}" for d, n in FITS])
def test_rma_mv_matches_metafor(ds, name):
    ref = REF[ds]["fits"][name]
    res = _fit(ds, name)
    est = LOOSE.get((ds, name), EST)
    assert res.k == ref["k"] and res.p == ref["p"] and res.parms == ref["parms"]
    assert res.coef_names == list(np.atleast_1d(ref["coef_names"]))
    for key in ("beta", "ci_lb", "ci_ub"):
        _close(getattr(res, key), ref[key], est, key)
    for key in ("se", "zval"):
        _close(getattr(res, key), ref[key], SE, key, atol=1e-300)
    # p-values far in the tail (1e-34) magnify a 1e-6 difference in the optimum: absolute there
    _close(res.pval, ref["pval"], SE, "pval", atol=1e-12)
    _close(res.ddf, ref["ddf"], 0, "ddf")
    if res.s_names:
        assert res.s_names == list(np.atleast_1d(ref["s_names"]))
        _close(res.sigma2, ref["sigma2"], est, "sigma2")
    if res.structs:
        _close(res.tau2, ref["tau2"], est, "tau2")
        _close(res.rho, ref["rho"], est, "rho")
    _close([res.QE, res.QEp], [ref["QE"], ref["QEp"]], 1e-10, "QE", atol=1e-300)
    _close(res.QM, ref["QM"], SE, "QM")
    _close(res.QMp, ref["QMp"], SE, "QMp", atol=1e-12)
    _close([res.QMdf[0], np.nan if res.QMdf[1] is None else res.QMdf[1]], ref["QMdf"], 0,
           "QMdf")
    stats_ref = ref["fit_stats"][res.method]
    for i, key in enumerate(("logLik", "deviance", "AIC", "BIC", "AICc")):
        _close(res.fit_stats[key], stats_ref[i], 1e-8, key)


@pytest.mark.parametrize(("ds", "name"), list(FITS), ids=[f"{d}-{n}" for d, n in FITS])
def test_optimum_is_not_below_metafor(ds, name):
    res = _fit(ds, name)
    ll_r = REF[ds]["fits"][name]["fit_stats"][res.method][0]
    assert res.fit_stats["logLik"] >= ll_r - 1e-10 * abs(ll_r)


@pytest.mark.parametrize(("ds", "name"), [("berkey1998", "UN_REML"),
                                          ("konstantopoulos2011", "year_t"),
                                          ("ishak2007", "AR")])
def test_print_reads_like_metafor(ds, name):
    """The heterogeneity and moderator test lines print as metafor prints them."""
    printed = REF[ds]["fits"][name]["printed"]
    ours = str(_fit(ds, name))
    for pattern in (r"QE\(df = .*", r"QM\(df = .*", r"F\(df1 = .*",
                    r"Multivariate Meta-Analysis Model.*", r"Test of Moderators.*"):
        m = re.search(pattern, printed)
        if m:
            assert m.group(0).strip() in ours
    assert "Variance Components:" in ours and "Model Results:" in ours
    squash = {" ".join(line.split()) for line in ours.splitlines()}
    for coef in _fit(ds, name).coef_names:  # each coefficient row, number for number
        row = next(line for line in printed.splitlines() if line.startswith(coef + " "))
        assert " ".join(row.split()) in squash


@pytest.mark.parametrize(("ds", "name"), ROBUST, ids=[f"{d}-{n}" for d, n in ROBUST])
@pytest.mark.parametrize("vcov", ["CR1", "CR0", "CR2"])
def test_robust_on_rma_mv(ds, name, vcov):
    ref = REF[ds]["fits"][name][vcov]
    kw = {"CR1": {}, "CR0": {"adjust": False}, "CR2": {"clubSandwich": True}}[vcov]
    rob = _fit(ds, name).robust(_data(ds)["study"], **kw)
    assert rob.vbest == ref["vbest"] and rob.n_clusters == ref["n"]
    _close(rob.se, ref["se"], SE, "se")
    _close(rob.df, ref["df"], EST, "df")
    _close(rob.pval, ref["pval"], SE, "pval", atol=1e-12)
    _close(rob.QM, ref["QM"], SE, "QM")
    _close(rob.QMp, ref["QMp"], SE, "QMp", atol=1e-12)
    _close(rob.QM_df, ref["QMdf"], EST, "QMdf")


def test_robust_cr2_refuses_clusters_that_split_the_model():
    """Schools of one district in different clusters: the working model crosses clusters."""
    res = _fit("konstantopoulos2011", "three_level_REML")
    with pytest.raises(ValueError, match="different clusters"):
        res.robust(_data("konstantopoulos2011")["study"] % 3, clubSandwich=True)


def test_vcalc_matches_metafor():
    a, d, kn = _data("assink2016"), _data("ishak2007"), pd.DataFrame(REF["knapp2017"]["data"])
    np.testing.assert_allclose(vcalc("vi", "study", obs="esid", rho=0.6, data=a),
                               REF["assink2016"]["vcalc_rho06"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(vcalc("vi", "study", time1="time", phi=0.97, data=d),
                               REF["ishak2007"]["vcalc_phi097"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(vcalc("vi", "study", obs="comp", type="task", rho=(0.5, 0.3),
                                     data=kn),
                               REF["knapp2017"]["vcalc_obs_type"], rtol=1e-12, atol=1e-15)


def test_vcalc_errors_name_the_problem():
    a = _data("assink2016")
    with pytest.raises(ValueError, match="rho is required"):
        vcalc("vi", "study", obs="esid", data=a)
    with pytest.raises(ValueError, match="phi is required"):
        vcalc("vi", "study", time1="year", data=a)
    with pytest.raises(ValueError, match="'nope'"):
        vcalc("vi", "nope", data=a)
    b = a.copy()
    b.loc[4, "study"] = None
    with pytest.raises(ValueError, match=r"cluster is missing in row\(s\) 5"):
        vcalc("vi", "study", data=b)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vcalc("vi", "study", obs="esid", rho=-0.9, data=a)
    assert "not positive definite in cluster 1" in str(caught[0].message)


def test_old_cluster_shorthand_is_the_three_level_model():
    k = _data("konstantopoulos2011")
    a = rma_mv(data=k, cluster="district")
    b = _fit("konstantopoulos2011", "three_level_REML")
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-9)
    assert a.n_clusters == 11


def test_rma_mv_errors_name_the_problem():
    k = _data("konstantopoulos2011")
    with pytest.raises(ValueError, match="struct must be one of"):
        rma_mv(data=k, random="~ year | district", struct="XYZ")
    with pytest.raises(ValueError, match=r"'town'.*not found"):
        rma_mv(data=k, random="~ 1 | town")
    with pytest.raises(ValueError, match="not of the form"):
        rma_mv(data=k, random="district")
    bad = k.copy()
    bad.loc[2, "yi"] = np.nan
    with pytest.raises(ValueError, match=r"yi is missing .* row\(s\) 3"):
        rma_mv(data=bad, random="~ 1 | district")
    bad = k.copy()
    bad.loc[6, "district"] = None
    with pytest.raises(ValueError, match=r"'district' is missing in row\(s\) 7"):
        rma_mv(data=bad, random="~ 1 | district")
    b = _data("berkey1998")
    V = np.array(REF["berkey1998"]["V"])
    V[0, 1] += 0.01
    with pytest.raises(ValueError, match=r"not symmetric .*row 1, column 2"):
        rma_mv("yi", V, data=b, random="~ outcome | trial", struct="UN")
    with pytest.raises(ValueError, match="moderator column 'colour' not found"):
        rma_mv(data=k, random="~ 1 | district", mods="~ colour")
    with pytest.raises(ValueError, match="linearly dependent"):
        rma_mv(data=k.assign(y2=k.year * 2), random="~ 1 | district", mods="~ year + y2")


def test_btt_selects_the_moderator_test():
    res = rma_mv(data=_data("berkey1998"), V=np.array(REF["berkey1998"]["V"]),
                 random="~ outcome | trial", struct="UN", mods="~ outcome - 1", btt=[1])
    ref = REF["berkey1998"]["fits"]["UN_REML"]
    assert res.btt == [1]
    _close(res.QM, (ref["beta"][1] / ref["se"][1]) ** 2, SE, "QM")


def test_json_summary_uses_metafor_names():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _fit("berkey1998", "UN_REML").to_dict()
    json.dumps(out)
    assert set(out["coefficients"]) == {"outcomeAL", "outcomePD"}
    assert out["struct"] == ["UN"] and len(out["tau2"]) == 2


def test_moderator_columns_are_coded_as_the_formula():
    a = _data("assink2016")
    by_cols = rma_mv("yi", vi="vi", data=a, random="~ 1 | study/esid", mods=["deltype"])
    assert by_cols.coef_names == ["intrcpt", "deltypegeneral", "deltypeovert"]
    np.testing.assert_allclose(by_cols.beta, _fit("assink2016", "deltype").beta, rtol=1e-9)


def test_single_level_factor_is_fixed_at_zero_with_a_warning():
    res = _fit("konstantopoulos2011", "one_district_644")
    assert res.sigma2[0] == 0 and res.parms == 2
    assert any("single-level factor(s) in random (district)" in m for m in res.caught)
    assert not _fit("konstantopoulos2011", "three_level_REML").caught


@pytest.mark.parametrize("struct", ["CS", "HCS", "UN", "AR", "DIAG"])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_likelihood_gradient_matches_finite_differences(struct, method):
    """The analytic score the optimiser climbs, against central differences of the
    likelihood, for three inner levels (interior point, every structure)."""
    from attunement.evidence.multilevel import _Engine, _parse_random

    rng = np.random.default_rng(7)
    n = 30
    d = pd.DataFrame({"trial": np.repeat(np.arange(n), 3), "outcome": np.tile(list("abc"), n),
                      "yi": rng.normal(size=3 * n), "vi": rng.uniform(0.01, 0.05, 3 * n)})
    d = d.sample(frac=0.9, random_state=1).reset_index(drop=True)  # some trials lack an outcome
    _, s_codes, g_terms = _parse_random(["~ 1 | trial", "~ outcome | trial"], struct, d,
                                        len(d))
    X = np.column_stack([np.ones(len(d)), rng.normal(size=len(d))])
    eng = _Engine(d.yi.to_numpy(), d.vi.to_numpy(), X, s_codes, g_terms, method == "REML")
    g = g_terms[0]
    theta = np.array([0.03, *[0.05, 0.08, 0.06][: g.n_tau], *[0.4, 0.2, 0.3][: g.n_rho]])
    grad = eng.evaluate(theta)["grad"]
    h = 1e-6
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        num = (eng.evaluate(up, grad=False)["ll"] - eng.evaluate(down, grad=False)["ll"]) / (2 * h)
        assert grad[i] == pytest.approx(num, rel=1e-5, abs=1e-6), (struct, i)


def test_profile_ci_names_a_sigma2_component():
    with pytest.raises(ValueError, match="one of the 0 sigma2"):
        _fit("berkey1998", "UN_REML").profile_ci(0)


@pytest.mark.parametrize(("ds", "name"), [("assink2016", "vcalc_deltype"),
                                          ("berkey1998", "UN_REML"), ("ishak2007", "AR")])
def test_row_order_does_not_change_the_fit(ds, name):
    """The grouping into blocks follows the data, not the row order."""
    data = _data(ds)
    order = np.random.default_rng(3).permutation(len(data))
    V = _V(ds, name)
    V = V if isinstance(V, str) else V[np.ix_(order, order)]
    res = rma_mv("yi", V, data=data.iloc[order].reset_index(drop=True), **FITS[ds, name])
    ref = _fit(ds, name)
    np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-7)
    np.testing.assert_allclose(np.r_[res.sigma2, res.tau2, res.rho],
                               np.r_[ref.sigma2, ref.tau2, ref.rho], rtol=1e-6, atol=1e-10)
