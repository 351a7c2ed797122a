"""Mantel–Haenszel and Peto pooling of 2×2 tables, as metafor's ``rma.mh`` and ``rma.peto``.

Mantel & Haenszel 1959 (J Natl Cancer Inst 22:719); variance of the MH log odds ratio by
Robins, Breslow & Greenland 1986 (Biometrics 42:311); MH log risk ratio and risk difference
variances by Greenland & Robins 1985 (Biometrics 41:55); Cochran–Mantel–Haenszel test with
continuity correction; Breslow–Day test with Tarone's 1985 correction (Biometrika 72:91);
Peto's one-step log odds ratio (Yusuf et al. 1985). Pooling uses the raw counts; the
heterogeneity Q uses the study effects of ``escalc`` (with ½ added to studies with a zero
cell and double-zero studies dropped, as metafor).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr, ndtri

from attunement.evidence.effect_sizes import escalc, inputs, table_cells

__all__ = ["MHResult", "rma_mh", "rma_peto"]


#: The homogeneity tests ``rma_mh`` adds for odds ratios, by metafor's names: Cochran's test
#: (CO, variance with N), Cochran–Mantel–Haenszel (MH, with N − 1), Breslow–Day (BD) and
#: Tarone's corrected (TA), each with its p-value, and ``k_pos``, the tables they use.
_TEST_NAMES = ("CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp", "k_pos")
#: The earlier names of two of them.
_TEST_ALIASES = {"CMH": "MH", "CMH_p": "MHp", "Tarone": "TA", "Tarone_p": "TAp"}


@dataclass(repr=False)
class MHResult:
    """Pooled estimate from Mantel–Haenszel or Peto pooling (log scale for OR/RR).

    The estimate (``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``) and the
    heterogeneity of the study effects (``QE``, ``QEp``, ``I2``, ``H2``) are attributes, and
    so are the homogeneity tests of an odds ratio (``CO``, ``MH``, ``BD``, ``TA``, their
    p-values ``COp`` ... ``TAp``, ``k_pos``; ``CMH`` and ``Tarone`` are the same as ``MH`` and
    ``TA``): None where they do not apply. ``tests`` holds those that were computed.

    Examples
    --------
    R: ``rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)`` gives the
    pooled log odds ratio −0.4734 and a Breslow–Day statistic of 171.7654 on 13 tables (metafor 3.8.1):

    >>> from attunement.evidence.datasets import dat_bcg
    >>> res = rma_mh(dat_bcg(), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    >>> round(res.beta, 4), round(res.BD, 4), res.k_pos
    (-0.4734, 171.7654, 13)
    >>> sorted(res.to_dict())[:4]
    ['BD', 'BDp', 'CMH', 'CMH_p']
    """

    measure: str
    method: str
    k: int
    beta: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    QE: float
    QEp: float
    I2: float
    H2: float
    tests: dict[str, float | None] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        key = _TEST_ALIASES.get(name, name)
        if key not in _TEST_NAMES:
            raise AttributeError(f"MHResult has no attribute {name!r}")
        return self.__dict__.get("tests", {}).get(key)

    def to_dict(self) -> dict[str, Any]:
        """The result as a flat mapping, homogeneity tests included (None where absent).

        Returns
        -------
        dict
            Every attribute by its name, for JSON.
        """
        out = {key: getattr(self, key) for key in self.__dataclass_fields__ if key != "tests"}
        for key in (*_TEST_ALIASES, *_TEST_NAMES):
            out[key] = getattr(self, key)
        return out

    def __repr__(self) -> str:
        return self.__str__()

    def __str__(self) -> str:
        name = "Mantel-Haenszel" if self.method == "MH" else "Peto"
        lines = [
            f"Equal-Effects Model ({name} method; k = {self.k})",
            "",
            f"I^2 (total heterogeneity / total variability):  {self.I2:.2f}%",
            f"Test for Heterogeneity: Q(df = {self.k - 1}) = {self.QE:.4f}, p = {self.QEp:.4g}",
            "",
            f"estimate = {self.beta:.4f} (se = {self.se:.4f}), z = {self.zval:.4f}, "
            f"p = {self.pval:.4g}, 95% CI {self.ci_lb:.4f} to {self.ci_ub:.4f}",
        ]
        if self.measure in {"OR", "RR", "PETO"}:
            lines.append(
                f"exponentiated: {math.exp(self.beta):.4f} "
                f"({math.exp(self.ci_lb):.4f} to {math.exp(self.ci_ub):.4f})"
            )
        if self.CMH is not None:
            lines.append(f"Cochran-Mantel-Haenszel test: CMH = {self.CMH:.4f}, p = {self.CMH_p:.4g}")
        if self.BD is not None and self.BDp is not None:
            lines.append(f"Breslow-Day test for heterogeneity: X^2({self.k_pos - 1}) = "
                         f"{self.BD:.4f}, p = {self.BDp:.4g}")
        if self.Tarone is not None and self.Tarone_p is not None:
            lines.append(f"Tarone's test for heterogeneity: X^2({self.k_pos - 1}) = "
                         f"{self.Tarone:.4f}, p = {self.Tarone_p:.4g}")
        return "\n".join(lines)


def _cells(data, ai, bi, ci, di, n1i, n2i):
    """The 2×2 tables, checked as ``escalc`` checks them; a missing count is refused."""
    _, get = inputs(data, ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i)
    cells = table_cells(get, "2x2 pooling")
    if np.isnan(np.vstack(cells)).any():
        raise ValueError("missing counts in the 2x2 tables")
    return cells


def _finish(measure, method, k_yi, beta, se, level, QE):
    alpha = 1 - (level / 100 if level > 1 else level)
    z = beta / se
    crit = float(-ndtri(alpha / 2))
    if k_yi > 1:
        QEp = float(chdtrc(k_yi - 1, QE))
        I2 = max(0.0, 100 * (QE - (k_yi - 1)) / QE) if QE > 0 else 0.0
        H2 = QE / (k_yi - 1)
    else:
        QEp, I2, H2 = 1.0, 0.0, 1.0
    return MHResult(measure, method, k_yi, beta, se, z, float(2 * ndtr(-abs(z))),
                    beta - crit * se, beta + crit * se, QE, QEp, I2, H2)


def rma_mh(
    data: pd.DataFrame | None = None,
    *,
    ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None,
    n1i: Any = None, n2i: Any = None,
    measure: str = "OR",
    correct: bool = True,
    level: float = 95,
) -> MHResult:
    """Mantel–Haenszel equal-effects pooling of 2×2 tables (metafor ``rma.mh``).

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The data the column names refer to.
    ai, bi, ci, di : array-like or str, optional
        The cells of each table (events and non-events in the first group, then the second);
        ``n1i``/``n2i`` (group sizes) may replace ``bi``/``di``.
    n1i, n2i : array-like or str, optional
        The group sizes.
    measure : str, default "OR"
        ``OR``, ``RR`` or ``RD``.
    correct : bool, default True
        The continuity correction of ½ in the Cochran and Cochran–Mantel–Haenszel tests.
    level : float, default 95
        Confidence level.

    Returns
    -------
    MHResult
        ``beta`` (log scale for OR and RR), ``se``, ``zval``, ``pval``, the CI, ``QE``,
        ``I2``, ``H2`` and, for OR, the tests below.

    Notes
    -----
    For ``OR`` the result also carries metafor's tests,
    under metafor's names: Cochran's test ``CO``/``COp`` (variance with Nᵢ), the
    Cochran–Mantel–Haenszel test ``MH``/``MHp`` (variance with Nᵢ − 1; also ``CMH``/``CMH_p``),
    both with a continuity correction of ½ unless ``correct=False``; and the Breslow–Day
    homogeneity test ``BD``/``BDp`` and Tarone's corrected ``TA``/``TAp`` (also
    ``Tarone``/``Tarone_p``) on the ``k_pos`` tables with a positive expected count and
    events and non-events, with k_pos − 1 degrees of freedom. CO and MH are None when no
    table has events (or none has non-events); BDp and TAp when k_pos < 2.

    R: ``rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)`` gives CO = 135.7087149,
    MH = 135.6889437, BD = 171.7653666 and TA = 171.7566730 on 12 df
    (``tests/reference/rmamh_reference.json``):

    Examples
    --------
    The BCG trials; R: ``rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)``
    gives the log odds ratio −0.4734 (SE 0.0410) and Q = 163.9426
    (``tests/reference/metafor_reference.json``, to 1e-10 relative):

    >>> from attunement.evidence.datasets import dat_bcg
    >>> res = rma_mh(dat_bcg(), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    >>> round(res.beta, 4), round(res.se, 4), round(res.QE, 4)
    (-0.4734, 0.041, 163.9426)

    R: ``rma.mh(ai=c(4,6,3), bi=c(119,300,228), ci=c(11,29,11), di=c(128,274,209))``
    gives CO = 22.09013, MH = 22.03983, k.pos = 3:

    >>> r = rma_mh(ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11], di=[128, 274, 209])
    >>> round(r.CO, 4), round(r.MH, 4), r.k_pos
    (22.0901, 22.0398, 3)
    """
    measure = measure.upper()
    if measure not in {"OR", "RR", "RD"}:
        raise ValueError("measure must be OR, RR or RD")
    a, b, c, d = _cells(data, ai, bi, ci, di, n1i, n2i)
    with np.errstate(divide="ignore", invalid="ignore"):
        es = escalc(measure, ai=a, bi=b, ci=c, di=d, drop00=True)
    yi, vi = es.yi.to_numpy(), es.vi.to_numpy()
    ok = ~(np.isnan(yi) | np.isnan(vi))
    yi, vi = yi[ok], vi[ok]
    n1, n2 = a + b, c + d
    N = n1 + n2
    out: dict[str, float | None] = {}
    if measure == "OR":
        P, Q = a / N + d / N, b / N + c / N
        R, S = (a / N) * d, (b / N) * c
        Rs, Ss = R.sum(), S.sum()
        if Rs == 0 or Ss == 0:
            raise ValueError("the Mantel-Haenszel odds ratio is undefined (no events or all "
                             "events in one group across studies)")
        beta_exp = Rs / Ss
        beta = math.log(beta_exp)
        se = math.sqrt(0.5 * (np.sum(P * R) / Rs**2 + np.sum(P * S + Q * R) / (Rs * Ss)
                              + np.sum(Q * S) / Ss**2))
        xt, yt = a + c, b + d
        if xt.sum() > 0 and yt.sum() > 0:
            num = (abs(np.sum(a - (n1 / N) * xt)) - (0.5 if correct else 0.0)) ** 2
            out["CO"] = float(num / np.sum((n1 / N) * (n2 / N) * (xt * (yt / N))))
            out["COp"] = float(chdtrc(1, out["CO"]))
            out["MH"] = float(num / np.sum((n1 / N) * (n2 / N) * (xt * (yt / (N - 1)))))
            out["MHp"] = float(chdtrc(1, out["MH"]))
        if beta_exp == 1:
            N11 = (n1 / N) * xt
        else:
            A = beta_exp * (n1 + xt) + (n2 - xt)
            B = np.sqrt(A**2 - 4 * n1 * xt * beta_exp * (beta_exp - 1))
            N11 = (A - B) / (2 * (beta_exp - 1))
        pos = (N11 > 0) & (xt > 0) & (yt > 0)
        N11p = N11[pos]
        N12 = n1[pos] - N11p
        N21 = xt[pos] - N11p
        N22 = N11p - n1[pos] - xt[pos] + N[pos]
        inv = 1 / (1 / N11p + 1 / N12 + 1 / N21 + 1 / N22)
        dev = a[pos] - N11p
        BD = max(0.0, float(np.sum(dev**2 / inv)))
        TA = max(0.0, BD - float(np.sum(dev)) ** 2 / float(np.sum(inv)))
        k_pos = int(pos.sum())
        out["k_pos"] = k_pos
        out["BD"], out["TA"] = BD, TA
        out["BDp"] = float(chdtrc(k_pos - 1, BD)) if k_pos > 1 else None
        out["TAp"] = float(chdtrc(k_pos - 1, TA)) if k_pos > 1 else None
    elif measure == "RR":
        R, S = np.sum(a * (n2 / N)), np.sum(c * (n1 / N))
        if a.sum() == 0 or c.sum() == 0:
            raise ValueError("the Mantel-Haenszel risk ratio is undefined (no events in a group)")
        beta = math.log(R / S)
        se = math.sqrt(np.sum((n1 / N) * (n2 / N) * (a + c) - (a / N) * c) / (R * S))
    else:
        den = np.sum(n1 * (n2 / N))
        beta = float(np.sum(a * (n2 / N) - c * (n1 / N)) / den)
        se = math.sqrt(
            (beta * np.sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + (n1 / N) * (n2 / N)
                           * (n2 - n1) / 2)
             + np.sum(a * (n2 - c) / N + c * (n1 - a) / N) / 2) / den**2
        )
    QE = max(0.0, float(np.sum((yi - beta) ** 2 / vi))) if yi.size > 1 else 0.0
    res = _finish(measure, "MH", yi.size, float(beta), float(se), level, QE)
    res.tests = out
    return res


def rma_peto(
    data: pd.DataFrame | None = None,
    *,
    ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None,
    n1i: Any = None, n2i: Any = None,
    level: float = 95,
) -> MHResult:
    """Peto's one-step pooled log odds ratio (metafor ``rma.peto``).

    Parameters
    ----------
    data, ai, bi, ci, di, n1i, n2i
        The 2×2 tables, as for :func:`rma_mh`.
    level : float, default 95
        Confidence level.

    Returns
    -------
    MHResult
        The pooled log odds ratio with its SE, test, CI and heterogeneity statistics.

    Notes
    -----
    As metafor, tables without events (or with only events) in both arms add nothing to the
    estimate and are left out of the heterogeneity statistics (``drop00 = TRUE`` for the
    study-level log odds ratios): Q has k_yi − 1 degrees of freedom, k_yi counting only
    informative tables.

    R: ``rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.yusuf1985[table == "9" &
    !is.na(ai), ])`` gives 26 tables of which 20 informative, Q(df = 19) = 18.01555,
    p = 0.5214000, I² = 0, H² = 0.948187.

    Examples
    --------
    The BCG trials; R: ``rma.peto(ai = tpos, bi = tneg, ci = cpos, di = cneg,
    data = dat.bcg)`` gives −0.4744 (SE 0.0407) and Q = 167.7302:

    >>> from attunement.evidence.datasets import dat_bcg
    >>> res = rma_peto(dat_bcg(), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    >>> round(res.beta, 4), round(res.se, 4), round(res.QE, 4)
    (-0.4744, 0.0407, 167.7302)
    """
    a, b, c, d = _cells(data, ai, bi, ci, di, n1i, n2i)
    n1, n2 = a + b, c + d
    N = n1 + n2
    xt, yt = a + c, b + d
    E = xt * n1 / N
    V = xt * yt * (n1 / N) * (n2 / N) / (N - 1)
    sV = float(V.sum())
    if sV == 0:
        raise ValueError("Peto's odds ratio is undefined: no studies with events and non-events")
    beta = float(np.sum(a - E)) / sV
    se = math.sqrt(1 / sV)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        # the double-zero tables are expected to be missing here
        warnings.simplefilter("ignore", UserWarning)
        es = escalc("PETO", ai=a, bi=b, ci=c, di=d, drop00=True)
    k_yi = int((~(es.yi.isna() | es.vi.isna())).sum())
    pos = V > 0
    QE = max(0.0, float(np.sum((a - E)[pos] ** 2 / V[pos]) - np.sum(a - E) ** 2 / V[pos].sum()))
    res = _finish("PETO", "Peto", k_yi, beta, se, level, QE)
    if int(pos.sum()) <= 1:
        res.QEp, res.I2, res.H2 = 1.0, 0.0, 1.0
    return res
