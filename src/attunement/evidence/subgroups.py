"""Subgroup analysis of an ``rma`` fit: a model per subgroup and the test of their differences."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from attunement.evidence._core import _crit
from attunement.evidence.models import RMAResult, rma

__all__ = ["subgroup_analysis"]


def subgroup_analysis(fit: RMAResult, groups: Sequence[Any]) -> tuple[pd.DataFrame, dict]:
    """Subgroup analysis both ways users expect: a separate model per subgroup
    (the fit's τ² estimator and test) and the test of subgroup differences, QM from the
    mixed-effects model with the subgroup as a categorical moderator (common τ²).

    Parameters
    ----------
    fit : RMAResult
        A fit without moderators.
    groups : sequence
        One subgroup label per study.

    Returns
    -------
    tuple of (pandas.DataFrame, dict)
        One row per subgroup (k, estimate, se, CI, p, τ², I², Q) and the test of subgroup
        differences (``QM``, ``df``, ``pval``, ``tau2_common``, ``statistic``).

    Examples
    --------
    BCG trials by allocation; R: ``rma(yi, vi, mods = ~ factor(alloc), data = dat)`` gives
    QM = 1.7675 (df 2), p = 0.4132, τ² = 0.3615, and ``rma(yi, vi, data = dat,
    subset = alloc == "random")`` −0.9710 (``tests/reference/metafor_reference.json``):

    >>> from attunement.evidence import escalc
    >>> from attunement.evidence.datasets import dat_bcg
    >>> bcg = dat_bcg()
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> table, test = subgroup_analysis(rma(dat), bcg.alloc)
    >>> round(float(table.estimate[0]), 4), round(test["QM"], 4), round(test["tau2_common"], 4)
    (-0.971, 1.7675, 0.3615)
    """
    if not fit.int_only:
        raise ValueError("subgroup analysis starts from a model without moderators")
    labels = pd.Series([None if g is None or (isinstance(g, float) and math.isnan(g))
                        else str(g) for g in groups])
    if len(labels) != fit.k:
        raise ValueError(f"{len(labels)} subgroup labels for {fit.k} studies")
    if labels.isna().any():
        raise ValueError("every study needs a subgroup label")
    rows = []
    for level in dict.fromkeys(labels):
        idx = np.flatnonzero(labels.to_numpy() == level)
        row: dict[str, Any] = {"subgroup": level, "k": idx.size}
        if idx.size >= 2 or fit.is_fixed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sub = rma(fit.yi[idx], fit.vi[idx], method=fit.method, test=fit.test,
                          level=fit.level, control=fit.control)
            row.update(estimate=sub.beta[0], se=sub.se[0], ci_lb=sub.ci_lb[0],
                       ci_ub=sub.ci_ub[0], pval=sub.pval[0], tau2=sub.tau2, I2=sub.I2,
                       Q=sub.QE, Q_p=sub.QEp)
        else:
            crit = _crit(fit.alpha, None)
            y0, se0 = fit.yi[idx[0]], math.sqrt(fit.vi[idx[0]])
            row.update(estimate=y0, se=se0, ci_lb=y0 - crit * se0, ci_ub=y0 + crit * se0)
        rows.append(row)
    table = pd.DataFrame(rows)
    test: dict[str, Any] = {}
    if table.shape[0] > 1:
        mixed = rma(fit.yi, fit.vi, mods=pd.DataFrame({"subgroup": labels}), method=fit.method,
                    test=fit.test, level=fit.level, control=fit.control)
        test = {"QM": mixed.QM, "df": mixed.QM_df[0] if mixed.QM_df[1] is None
                else list(mixed.QM_df), "pval": mixed.QMp, "tau2_common": mixed.tau2,
                "statistic": "chisq" if mixed.ddf is None else "F"}
    return table, test
