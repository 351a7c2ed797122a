"""Baujat, radial (Galbraith) and GOSH plots for rma fits (metafor's ``baujat``, ``radial``,
``gosh``): each has a ``*_data`` function (the numbers, checked against R) and a ``*_plot``
function returning a matplotlib Figure."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from attunement.evidence._core import _crit
from attunement.evidence.casewise import refit_subset
from attunement.evidence.rma_result import RMAFit

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def baujat_data(fit: RMAFit) -> pd.DataFrame:
    """x: squared Pearson residual (contribution to heterogeneity); y: influence on the fitted
    value when the study is left out, (ŷ₍₋ᵢ₎ − ŷ)² / Var(ŷ₍₋ᵢ₎) (Baujat et al. 2002, Stat Med
    21:2641).

    Parameters
    ----------
    fit : RMAResult
        The fitted model.

    Returns
    -------
    pandas.DataFrame
        ``x`` and ``y``, one row per study (indexed by its label).

    Examples
    --------
    R: ``baujat(rma(yi, vi, data = dat.raudenbush1985))`` -- study 1 at x 0.08379,
    y 0.03831:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> points = baujat_data(rma("yi", "vi", data=dat_raudenbush1985()))
    >>> points.loc["Study 1"].round(3).tolist()
    [0.084, 0.038]
    """
    if fit.k < 2:
        raise ValueError("baujat needs at least 2 studies")
    pred_full = fit.X @ fit.beta
    x = (fit.yi - pred_full) ** 2 / (fit.tau2 + fit.vi)
    y = np.full(fit.k, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(fit.k):
            keep = np.ones(fit.k, dtype=bool)
            keep[i] = False
            try:
                r = refit_subset(fit, keep, light=True)
            except (ValueError, np.linalg.LinAlgError):
                continue  # the study cannot be left out (as metafor: no point)
            xi = fit.X[i]
            y[i] = (xi @ r.beta - pred_full[i]) ** 2 / (xi @ r.vb @ xi)
    return pd.DataFrame({"x": x, "y": y}, index=fit.slab)


def baujat_plot(fit: RMAFit) -> Figure:
    """Baujat plot: each study labelled at (contribution to Q, influence on the result).

    Parameters
    ----------
    fit : RMAResult
        The model whose studies are plotted (:func:`baujat_data`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, ready for ``savefig``.

    Examples
    --------
    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> ax = baujat_plot(rma("yi", "vi", data=dat_raudenbush1985())).axes[0]
    >>> ax.get_ylabel()
    'Influence on overall result'
    """
    from matplotlib.figure import Figure

    d = baujat_data(fit)
    fig = Figure(figsize=(6.5, 5))
    ax = fig.subplots()
    ax.scatter(d["x"], d["y"], s=0)
    for label, row in d.iterrows():
        ax.annotate(str(label), (row["x"], row["y"]), ha="center", va="center", fontsize=8)
    ax.set_xlabel("Contribution to overall heterogeneity" if fit.is_fixed
                  else "Squared Pearson residual")
    ax.set_ylabel("Influence on overall result" if fit.int_only else "Influence on fitted value")
    ax.set_title("Baujat plot")
    fig.tight_layout()
    return fig


def radial_data(fit: RMAFit) -> pd.DataFrame:
    """Galbraith (radial) coordinates: x = 1/√(v + τ²), y = y/√(v + τ²); models without
    moderators only, as metafor.

    Parameters
    ----------
    fit : RMAResult
        An intercept-only model (common or random effects).

    Returns
    -------
    pandas.DataFrame
        ``x`` (precision) and ``y`` (standardised effect), one row per study.

    Examples
    --------
    R: ``radial(rma(yi, vi, data = dat.raudenbush1985, method = "FE"))`` puts study 1 at
    1/√0.0156 = 8.0064, 0.03/√0.0156 = 0.2402:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> common = rma("yi", "vi", data=dat_raudenbush1985(), method="FE")
    >>> radial_data(common).iloc[0].round(4).tolist()
    [8.0064, 0.2402]
    """
    if not fit.int_only:
        raise ValueError("radial plots are for models without moderators")
    s = np.sqrt(fit.vi + fit.tau2)
    return pd.DataFrame({"x": 1 / s, "y": fit.yi / s}, index=fit.slab)


def radial_plot(fit: RMAFit) -> Figure:
    """Radial (Galbraith) plot of a model without moderators.

    The studies, the line through the origin with slope = the pooled estimate and
    its ±z band (Galbraith 1988, Stat Med 7:889).

    Parameters
    ----------
    fit : RMAResult
        A model without moderators (:func:`radial_data`).

    Returns
    -------
    matplotlib.figure.Figure
        The plot.

    Examples
    --------
    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> fig = radial_plot(rma("yi", "vi", data=dat_raudenbush1985(), method="FE"))
    >>> fig.axes[0].get_xlabel()
    'x = 1/√(v)  (precision)'
    """
    from matplotlib.figure import Figure

    d = radial_data(fit)
    fig = Figure(figsize=(6.5, 5))
    ax = fig.subplots()
    ax.scatter(d["x"], d["y"], color="0.15", s=18)
    xs = np.array([0.0, float(d["x"].max()) * 1.05])
    z = _crit(fit.alpha, None)
    ax.plot(xs, fit.estimate * xs, color="0.2")
    ax.plot(xs, fit.estimate * xs + z, "--", color="0.5")
    ax.plot(xs, fit.estimate * xs - z, "--", color="0.5")
    tau = "" if fit.is_fixed else " + τ²"
    ax.set_xlabel(f"x = 1/√(v{tau})  (precision)")
    ax.set_ylabel(f"z = y/√(v{tau})  (standardised effect)")
    ax.set_title(f"Radial (Galbraith) plot, estimate {fit.estimate:.3f}")
    fig.tight_layout()
    return fig


def gosh(fit: RMAFit, *, subsets: int = 100_000, seed: int | None = None) -> pd.DataFrame:
    """Fit the model to subsets of the studies (metafor ``gosh``, Olkin et al. 2012, Res Synth
    Methods 3:214): every subset of at least p studies when there are no more than ``subsets``,
    else ``subsets`` random ones drawn with ``seed``. Columns: one boolean per study, then QE,
    I2, H2, tau2 and the coefficients.

    Parameters
    ----------
    fit : RMAResult
        The model refitted to each subset.
    subsets : int, default 100000
        The most subsets to fit; beyond it a random sample of that many.
    seed : int, optional
        Seed of the random sample.

    Returns
    -------
    pandas.DataFrame
        One row per subset.

    Examples
    --------
    R: ``gosh(rma(yi, vi, data = dat.raudenbush1985[1:8, ]))`` fits all 255 subsets
    (compared in ``tests/evidence/test_evidence_plots_more.py``); the last is all eight
    studies, with τ² = 0:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> table = gosh(rma("yi", "vi", data=dat_raudenbush1985().iloc[:8]))
    >>> len(table), round(float(table.tau2.iloc[-1]), 6)
    (255, 0.0)
    """
    if fit.weights is not None:
        raise ValueError("gosh: fits with user weights are not supported")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, not {subsets}")
    k, p = fit.k, fit.p
    n_all = sum(math.comb(k, m) for m in range(p, k + 1))
    if n_all <= subsets:
        patterns = [np.isin(np.arange(k), c) for m in range(p, k + 1)
                    for c in itertools.combinations(range(k), m)]
    else:
        rng = np.random.default_rng(seed)
        patterns = []
        while len(patterns) < subsets:
            pat = rng.random(k) < 0.5
            if pat.sum() >= p:
                patterns.append(pat)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pat in patterns:
            try:
                r = refit_subset(fit, pat)
            except (ValueError, np.linalg.LinAlgError):
                rows.append([np.nan] * (4 + p))
                continue
            rows.append([r.QE, r.I2, r.H2, r.tau2, *r.beta])
    names = ["estimate"] if fit.int_only else list(fit.coef_names)
    out = pd.concat([pd.DataFrame(np.array(patterns), columns=fit.slab),
                     pd.DataFrame(rows, columns=["QE", "I2", "H2", "tau2", *names])], axis=1)
    out.attrs["exact"] = n_all <= subsets
    return out


def gosh_plot(table: pd.DataFrame, *, x: str = "I2", y: str = "estimate") -> Figure:
    """GOSH scatter of two columns of :func:`gosh` (default I² against the estimate).

    Parameters
    ----------
    table : pandas.DataFrame
        The subsets' fits from :func:`gosh`.
    x, y : str, default "I2" and "estimate"
        The columns on the horizontal and vertical axes.

    Returns
    -------
    matplotlib.figure.Figure
        The scatter plot.

    Examples
    --------
    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> fits = gosh(rma("yi", "vi", data=dat_raudenbush1985().iloc[:6]))
    >>> gosh_plot(fits, x="tau2").axes[0].get_xlabel()
    'τ²'
    """
    from matplotlib.figure import Figure

    for col in (x, y):
        if col not in table.columns:
            raise ValueError(f"gosh table has no column {col!r}")
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    ax.scatter(table[x], table[y], s=4, alpha=0.3, color="0.1", linewidths=0)
    ax.set_xlabel({"I2": "I² (%)", "tau2": "τ²", "QE": "Q", "H2": "H²"}.get(x, x))
    ax.set_ylabel(y)
    ax.set_title(f"GOSH plot ({len(table)} subsets)")
    fig.tight_layout()
    return fig
