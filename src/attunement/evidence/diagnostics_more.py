"""BLUPs, variance inflation factors and the profile likelihood of τ² for rma fits (metafor's
``blup``, ``vif`` and ``profile``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from attunement.evidence._core import _crit
from attunement.evidence.rma_result import RMAFit

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def blup(fit: RMAFit) -> pd.DataFrame:
    """Best linear unbiased predictions of the study-specific true effects (metafor ``blup``).

    pred = λ y + (1 − λ) x'b with λ = τ²/(τ² + v); var = λ v + (1 − λ)² x'Vb x; the interval
    uses z (or t with the model's df after Knapp–Hartung).

    Parameters
    ----------
    fit : RMAResult
        A fit without user weights.

    Returns
    -------
    pandas.DataFrame
        ``pred``, ``se``, ``pi_lb``, ``pi_ub``, one row per study.

    Examples
    --------
    R: ``blup(rma(yi, vi, data = dat.raudenbush1985))`` -- first row pred 0.0543 (se 0.0953);
    with ``mods = ~ weeks + setting + tester``, 0.0933
    (``tests/reference/metafor_more_reference.json``):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> dat = dat_raudenbush1985()
    >>> b = blup(rma(dat))
    >>> round(float(b.pred.iloc[0]), 4), round(float(b.se.iloc[0]), 4)
    (0.0543, 0.0953)
    >>> round(float(blup(rma(dat, mods="~ weeks + setting + tester")).pred.iloc[0]), 4)
    0.0933
    """
    if fit.weights is not None:
        raise ValueError("blup: fits with user weights are not supported (as in metafor)")
    lam = fit.tau2 / (fit.tau2 + fit.vi)
    xb = fit.X @ fit.beta
    pred = lam * fit.yi + (1 - lam) * xb
    vx = np.einsum("ij,jk,ik->i", fit.X, fit.vb, fit.X)
    se = np.sqrt(lam * fit.vi + (1 - lam) ** 2 * vx)
    crit = _crit(fit.alpha, fit.ddf if fit.test != "z" else None)
    return pd.DataFrame({"pred": pred, "se": se, "pi_lb": pred - crit * se,
                         "pi_ub": pred + crit * se}, index=fit.slab)


def vif(fit: RMAFit, btt: Any = None) -> pd.DataFrame:
    """Variance inflation factors of the moderators (metafor ``vif``, from the coefficients'
    var-cov matrix, intercept left out); with ``btt`` (0-based indices) one generalised VIF for
    the set (Fox & Monette 1992): det(R_bb) det(R_oo) / det(R). SIF = VIF^(1/(2m)).

    Parameters
    ----------
    fit : RMAResult
        A meta-regression (at least one moderator).
    btt : sequence of int, optional
        Coefficients (0-based) that form one set, e.g. the dummies of one factor.

    Returns
    -------
    pandas.DataFrame
        ``coef``, ``m`` (coefficients in the set), ``vif`` and ``sif``, one row per moderator
        (or one row for the set).

    Examples
    --------
    R: ``vif(rma(smd, sei = se, mods = ~ blind + alloconc + itt + duration,
    data = dat.baskerville2012))`` gives VIF 1.4403, 1.5464, 1.5366, 1.4210; on
    dat.raudenbush1985 ``vif(rma(yi, vi, mods = ~ weeks + setting + tester))`` gives 1.0672,
    1.1608, 1.1498:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> reg = rma("yi", "vi", data=dat_raudenbush1985(), mods="~ weeks + setting + tester")
    >>> vif(reg).vif.round(4).tolist()
    [1.0672, 1.1608, 1.1498]
    """
    names = list(fit.coef_names)
    keep = [j for j in range(fit.p) if not (fit.int_incl and j == 0)]
    if len(keep) < 2:
        raise ValueError("vif needs a model with at least two moderators")
    sd = np.sqrt(np.diag(fit.vb))
    R_all = fit.vb / np.outer(sd, sd)
    R = R_all[np.ix_(keep, keep)]
    det_R = np.linalg.det(R)

    def gvif(cols: list[int]) -> float:
        pos = [keep.index(c) for c in cols]
        rest = [i for i in range(len(keep)) if i not in pos]
        d_rest = np.linalg.det(R[np.ix_(rest, rest)]) if rest else 1.0
        return float(np.linalg.det(R[np.ix_(pos, pos)]) * d_rest / det_R)

    if btt is None:
        rows = [(names[j], 1, gvif([j])) for j in keep]
    else:
        cols = sorted({int(b) for b in np.atleast_1d(btt)})
        bad = [c for c in cols if c not in keep]
        if bad:
            raise ValueError(f"btt index {bad[0]} is the intercept or out of range "
                             f"(moderators are {keep})")
        rows = [(", ".join(names[c] for c in cols), len(cols), gvif(cols))]
    out = pd.DataFrame(rows, columns=["coef", "m", "vif"])
    out["sif"] = out["vif"] ** (1 / (2 * out["m"]))
    return out


def profile_tau2(fit: RMAFit, tau2: Any = None, *, xlim: tuple[float, float] | None = None,
                 steps: int = 20) -> pd.DataFrame:
    """(Restricted) log-likelihood with τ² fixed at each grid value (metafor ``profile``).

    The grid is ``tau2`` if given, else ``steps`` equally spaced values over ``xlim``
    (default 0 to 2τ̂² + 0.1).

    Parameters
    ----------
    fit : RMAResult
        A random-effects fit with τ² estimated.
    tau2 : array-like, optional
        The τ² values to profile at.
    xlim : tuple of float, optional
        The grid's range when ``tau2`` is not given.
    steps : int, default 20
        Grid points over ``xlim``.

    Returns
    -------
    pandas.DataFrame
        ``tau2`` and ``ll``, the (restricted) log-likelihood there.

    Examples
    --------
    R: ``profile(rma(yi, vi, data = dat.raudenbush1985), xlim = c(0, 0.2), steps = 11)``
    starts −4.378954, −3.737267 (all values in
    ``tests/reference/metafor_more_reference.json``):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> prof = profile_tau2(rma("yi", "vi", data=dat_raudenbush1985()), xlim=(0, 0.2), steps=11)
    >>> len(prof), prof.ll.head(2).round(6).tolist()
    (11, [-4.378954, -3.737267])
    """
    if fit.is_fixed or fit.tau2_fixed:
        raise ValueError("profile: τ² is not estimated in this model (method "
                         f"{fit.method}{', τ² fixed' if fit.tau2_fixed else ''})")
    if tau2 is None:
        lo, hi = xlim if xlim is not None else (0.0, 2 * fit.tau2 + 0.1)
        if not 0 <= lo < hi:
            raise ValueError(f"xlim must satisfy 0 <= lower < upper, got {(lo, hi)}")
        grid = np.linspace(lo, hi, steps)
    else:
        grid = np.atleast_1d(np.asarray(tau2, dtype=float))
        if np.any(grid < 0) or np.any(np.isnan(grid)):
            raise ValueError("tau2 grid values must be non-negative numbers")
    kind = "REML" if fit.method == "REML" else "ML"
    ll = []
    for t in grid:
        r = fit.refit_on(fit.yi, fit.vi, fit.X, fit.coef_names, fit.int_incl,
                         method=fit.method, test=fit.test, weights=fit.weights,
                         level=fit.level, tau2_value=float(t), control=fit.control, btt=None,
                         slab=None, skip_r2=True)
        ll.append(r.fit_stats[kind]["logLik"])
    out = pd.DataFrame({"tau2": grid, "ll": ll})
    out.attrs.update(method=kind, tau2_hat=fit.tau2, ll_max=fit.logLik())
    return out


def profile_plot(prof: pd.DataFrame) -> Figure:
    """Plot a :func:`profile_tau2` table: the log-likelihood against τ², the estimate marked.

    Parameters
    ----------
    prof : pandas.DataFrame
        A :func:`profile_tau2` result, with its ``tau2`` and ``ll`` columns and the fit's
        τ̂² among its attributes.

    Returns
    -------
    matplotlib.figure.Figure
        The plot, to save with ``savefig``.

    Examples
    --------
    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> fig = profile_plot(profile_tau2(rma("yi", "vi", data=dat_raudenbush1985()), steps=5))
    >>> fig.axes[0].get_ylabel()
    'Restricted log-likelihood'
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.plot(prof["tau2"], prof["ll"], "o-", color="0.2", markersize=4)
    if "tau2_hat" in prof.attrs:
        ax.axvline(prof.attrs["tau2_hat"], linestyle="--", color="0.5")
        ax.axhline(prof.attrs["ll_max"], linestyle="--", color="0.5")
    ax.set_xlabel("τ² (between-study variance)")
    ax.set_ylabel(f"{'Restricted ' if prof.attrs.get('method') == 'REML' else ''}log-likelihood")
    ax.set_title("Profile plot for τ²")
    fig.tight_layout()
    return fig
