"""Forest and funnel plots (matplotlib), in the style of metafor's ``forest()`` and ``funnel()``.

The functions return a matplotlib ``Figure`` built without pyplot (safe on servers and in
notebooks) and, given ``path``, save it as PNG, SVG or PDF (by extension).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory

from attunement.evidence.models import RMAResult, _crit, rma

__all__ = ["forest_plot", "funnel_plot"]

_FORMATS = {".png", ".svg", ".pdf"}
_INK = "#1a1a1a"
_STUDY = "#2b5c8a"
_POOLED = "#1a1a1a"
_SUBGROUP = "#6b6b6b"


def _save(fig: Figure, path: str | Path | None, dpi: int) -> None:
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise ValueError(f"{path}: figures can be written as .png, .svg or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")


def _resolve_transf(transf: str | Callable | None) -> tuple[Callable | None, bool]:
    if transf is None:
        return None, False
    if transf == "exp" or transf is np.exp:
        return np.exp, True
    if transf == "tanh" or transf is np.tanh:
        return np.tanh, False
    if callable(transf):
        return transf, False
    raise ValueError("transf must be 'exp', 'tanh' or a function")


def _fmt_ci(est: float, lo: float, hi: float, f: Callable | None) -> str:
    if f is not None:
        est, lo, hi = f(est), f(lo), f(hi)
    return f"{est:5.2f} [{lo:5.2f}, {hi:5.2f}]"


def forest_plot(
    res: RMAResult,
    *,
    path: str | Path | None = None,
    subgroup: Sequence[Any] | None = None,
    transf: str | Callable | None = None,
    xlabel: str | None = None,
    show_pi: bool = True,
    show_weights: bool = True,
    refline: float | None = 0.0,
    columns: dict[str, Sequence[Any]] | None = None,
    title: str | None = None,
    dpi: int = 200,
) -> Figure:
    """Forest plot: one row per study (estimate, CI, square sized by weight), the pooled
    diamond with its prediction interval, and optional subgroup blocks with their own pooled
    estimates and the test of subgroup differences.

    ``transf="exp"`` shows ratios (OR, RR) on a log axis with exponentiated labels;
    ``transf="tanh"`` back-transforms Fisher z to correlations. ``subgroup``: one label per
    study; each block gets a separate fit with the model's τ² estimator and the footer gives
    QM from the mixed-effects model with the subgroup as moderator. ``columns``: extra text
    columns shown after the study label, e.g. ``{"Treated": ["4/123", ...]}`` (metafor's
    ``ilab``), one value per study.

    Parameters
    ----------
    res : RMAResult
        A model without moderators.
    path : str or pathlib.Path, optional
        Where to save the figure (``.png``, ``.svg`` or ``.pdf``).
    subgroup : sequence, optional
        One subgroup label per study.
    transf : str or callable, optional
        ``"exp"``, ``"tanh"`` or a function applied to estimates and bounds.
    xlabel, title : str, optional
        Axis label (a default names the measure) and title.
    show_pi : bool, default True
        Draw the prediction interval under the pooled diamond.
    show_weights : bool, default True
        Show each study's weight (%).
    refline : float or None, default 0.0
        The vertical line of no effect (None for none).
    columns : dict of str to sequence, optional
        Extra text columns.
    dpi : int, default 200
        Resolution of a saved PNG.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (also saved when ``path`` is given).

    Examples
    --------
    The BCG trials' risk ratios, by allocation method, as ``forest(res, atransf = exp)``:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> bcg = dat_bcg()
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> fig = forest_plot(rma(dat), transf="exp", subgroup=bcg.alloc)
    >>> fig.axes[0].get_xlabel()
    'Risk ratio (log scale)'
    """
    if not res.int_only:
        raise ValueError("forest_plot draws models without moderators; use subgroup= for blocks")
    f, log_axis = _resolve_transf(transf)
    k = res.k
    if k > 300:
        raise ValueError(f"{k} studies are too many rows for a readable forest plot; draw "
                         "subsets or use a funnel plot")
    crit = _crit(res.alpha, None)
    sei = np.sqrt(res.vi)
    lo, hi = res.yi - crit * sei, res.yi + crit * sei
    weights = res.weights_percent()
    labels = [lab if len(lab) <= 40 else lab[:39] + "\u2026" for lab in res.slab]

    rows: list[dict[str, Any]] = []  # drawn top to bottom
    groups_test = None
    if subgroup is not None:
        groups = np.asarray([str(g) for g in subgroup])
        if groups.size != k:
            raise ValueError(f"subgroup has {groups.size} labels but the model has {k} studies")
        order = list(dict.fromkeys(groups.tolist()))
        for g in order:
            idx = np.flatnonzero(groups == g)
            rows.append({"kind": "header", "label": g})
            rows += [{"kind": "study", "i": i} for i in idx]
            if idx.size >= 2:
                sub = rma(res.yi[idx], res.vi[idx], method=res.method, test=res.test,
                          level=res.level, control=res.control)
                rows.append({"kind": "poly", "fit": sub, "label": f"{res.method} model for "
                             f"{g} (k = {idx.size}; I\u00b2 = {sub.I2:.0f}%)", "sub": True})
            rows.append({"kind": "gap"})
        if len(order) > 1:
            mixed = rma(res.yi, res.vi, mods=_as_frame(groups),
                        method=res.method, test=res.test, level=res.level, control=res.control)
            groups_test = mixed
    else:
        rows += [{"kind": "study", "i": i} for i in range(k)]
        rows.append({"kind": "gap"})
    rows.append({"kind": "poly", "fit": res, "label": _pooled_label(res), "sub": False})

    n = len(rows)
    height = 1.3 + 0.26 * (n + 2)
    extra = dict(columns or {})
    for name, values in extra.items():
        if len(values) != k:
            raise ValueError(f"column {name!r} has {len(values)} values for {k} studies")
    shift = 0.9 * len(extra)
    width_in = 10.5 + shift

    def fx(inches: float) -> float:
        return inches / width_in

    fig = Figure(figsize=(width_in, height))
    ax = fig.add_axes((fx(3.57 + shift), 0.9 / height + 0.02, fx(3.78), 1 - (1.25 / height)))
    right = (fx(8.19 + shift), fx(10.34 + shift))
    ypos = {j: n - j for j in range(n)}
    wmax = weights.max()
    trans_left = blended_transform_factory(fig.transFigure, ax.transData)

    for j, row in enumerate(rows):
        y = ypos[j]
        if row["kind"] == "header":
            ax.text(fx(0.21), y, row["label"], transform=trans_left, ha="left", va="center",
                    fontsize=9.5, fontweight="bold", color=_INK)
        elif row["kind"] == "study":
            i = row["i"]
            ax.plot([lo[i], hi[i]], [y, y], color=_INK, lw=0.9, solid_capstyle="butt")
            size = 3 + 9 * math.sqrt(weights[i] / wmax)
            ax.plot(res.yi[i], y, marker="s", ms=size, color=_STUDY, mec=_STUDY, ls="none")
            ax.text(fx(0.37 if subgroup is not None else 0.21), y, labels[i],
                    transform=trans_left, ha="left", va="center", fontsize=9, color=_INK)
            for j, values in enumerate(extra.values()):
                ax.text(fx(3.35 + 0.9 * (j + 1)), y, str(values[i]), transform=trans_left,
                        ha="right", va="center", fontsize=9, color=_INK)
            _right_text(fig, ax, y, weights[i] if show_weights else None,
                        _fmt_ci(res.yi[i], lo[i], hi[i], f), bold=False, at=right)
        elif row["kind"] == "poly":
            fit: RMAResult = row["fit"]
            b, cl, cu = fit.beta[0], fit.ci_lb[0], fit.ci_ub[0]
            color = _SUBGROUP if row["sub"] else _POOLED
            diamond = Polygon([(cl, y), (b, y + 0.38), (cu, y), (b, y - 0.38)], closed=True,
                              facecolor=color, edgecolor=color, lw=0.8)
            ax.add_patch(diamond)
            if show_pi and not fit.is_fixed and fit.k > 1:
                pr = fit.predict().iloc[0]
                ax.plot([pr.pi_lb, cl], [y, y], color=color, lw=1.0, ls=(0, (2, 1.5)))
                ax.plot([cu, pr.pi_ub], [y, y], color=color, lw=1.0, ls=(0, (2, 1.5)))
                for end in (pr.pi_lb, pr.pi_ub):
                    ax.plot([end, end], [y - 0.15, y + 0.15], color=color, lw=1.0)
            ax.text(fx(0.21), y, row["label"], transform=trans_left, ha="left", va="center",
                    fontsize=9, fontweight="normal" if row["sub"] else "bold", color=_INK)
            _right_text(fig, ax, y, 100.0 * _weight_share(fit, res) if show_weights else None,
                        _fmt_ci(b, cl, cu, f), bold=not row["sub"], at=right)

    xs = np.concatenate([lo, hi, res.ci_lb, res.ci_ub])
    if show_pi and not res.is_fixed and k > 1:
        pr = res.predict().iloc[0]
        xs = np.concatenate([xs, [pr.pi_lb, pr.pi_ub]])
    xmin, xmax = float(np.nanmin(xs)), float(np.nanmax(xs))
    pad = 0.05 * (xmax - xmin if xmax > xmin else 1.0)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(0.2, n + 0.8)
    if refline is not None:
        ax.axvline(refline, color="#888888", lw=0.8, ls=(0, (4, 3)), zorder=0)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=8.5)
    if log_axis:
        nice = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 4, 5, 10, 20, 50, 100])
        inside = nice[(np.log(nice) >= xmin - pad) & (np.log(nice) <= xmax + pad)]
        if inside.size > 7:
            inside = inside[np.isin(inside, [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 20, 100])]
        ax.set_xticks(np.log(inside))
        ax.set_xticklabels([f"{t:g}" for t in inside])
    elif f is not None:
        ticks = ax.get_xticks()
        ticks = ticks[(ticks >= xmin - pad) & (ticks <= xmax + pad)]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{f(t):.2g}" for t in ticks])
    ax.set_xlabel(xlabel or _default_xlabel(res, f, log_axis), fontsize=9.5)

    top = n + 0.55
    ax.text(fx(0.21), top, "Study", transform=trans_left, ha="left", va="bottom", fontsize=9.5,
            fontweight="bold")
    for j, name in enumerate(extra):
        ax.text(fx(3.35 + 0.9 * (j + 1)), top, name, transform=trans_left, ha="right",
                va="bottom", fontsize=9.5, fontweight="bold")
    short = {"RR": "RR", "OR": "OR"}.get(res.measure or "", "Estimate") if log_axis else (
        "Estimate")
    _right_text(fig, ax, top, "Weight" if show_weights else None,
                f"{short} [{100 * (1 - res.alpha):g}% CI]", bold=True, header=True, at=right)

    footer = _heterogeneity_text(res)
    if groups_test is not None:
        footer += (
            f"\nTest for subgroup differences: QM(df = {groups_test.QM_df[0]}) = "
            f"{groups_test.QM:.2f}, {_p(groups_test.QMp)}"
        )
    if show_pi and not res.is_fixed and k > 1:
        q = "t" if res.ddf is not None else "z"
        footer += f"\nDashed whiskers: 95% prediction interval ({q} quantile)".replace(
            "95", f"{100 * (1 - res.alpha):g}")
    fig.text(fx(0.21), 0.02, footer, ha="left", va="bottom", fontsize=8, color="#333333")
    if title:
        fig.suptitle(title, x=fx(0.21), ha="left", fontsize=11, fontweight="bold")
    _save(fig, path, dpi)
    return fig


def _as_frame(groups: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame({"subgroup": groups})


def _weight_share(fit: RMAResult, overall: RMAResult) -> float:
    if fit is overall:
        return 1.0
    w_all = 1 / (overall.vi + overall.tau2)
    w_sub = 1 / (fit.vi + overall.tau2)
    return float(w_sub.sum() / w_all.sum())


def _right_text(fig: Figure, ax: Any, y: float, weight: Any, ci: str, *, bold: bool,
                header: bool = False, at: tuple[float, float] = (0.78, 0.985)) -> None:
    trans = blended_transform_factory(fig.transFigure, ax.transData)
    weight_s = weight if isinstance(weight, str) else (
        None if weight is None else f"{weight:.1f}%"
    )
    kw = {"transform": trans, "va": "bottom" if header else "center", "fontsize": 9,
          "fontweight": "bold" if bold else "normal", "family": "DejaVu Sans Mono"
          if not header else None}
    kw = {a: b for a, b in kw.items() if b is not None}
    if weight_s is not None:
        ax.text(at[0], y, weight_s, ha="right", **kw)
    ax.text(at[1], y, ci, ha="right", **kw)


def _pooled_label(res: RMAResult) -> str:
    if res.is_fixed:
        return "Common-effect model"
    kh = ", Knapp-Hartung" if res.test == "knha" else ""
    return f"Random-effects model ({res.method}{kh})"


def _p(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def _heterogeneity_text(res: RMAResult) -> str:
    s = f"Heterogeneity: Q({res.k - res.p}) = {res.QE:.2f}, {_p(res.QEp)}; I\u00b2 = {res.I2:.1f}%"
    if not res.is_fixed:
        s += f"; \u03c4\u00b2 = {res.tau2:.4f}"
    return s


def _default_xlabel(res: RMAResult, f: Callable | None, log_axis: bool) -> str:
    names = {"RR": "Risk ratio", "OR": "Odds ratio", "RD": "Risk difference",
             "SMD": "Standardised mean difference (Hedges' g)", "MD": "Mean difference",
             "ZCOR": "Fisher's z", "COR": "Correlation", "PETO": "Peto log odds ratio"}
    if res.measure in {"RR", "OR"}:
        name = names[res.measure]
        return f"{name} (log scale)" if log_axis else f"Log {name.lower()}"
    if res.measure == "ZCOR" and f is np.tanh:
        return "Correlation"
    return names.get(res.measure or "", "Effect size")


def funnel_plot(
    res: RMAResult,
    *,
    path: str | Path | None = None,
    contour: bool = False,
    levels: Sequence[float] = (0.90, 0.95, 0.99),
    filled: Any = None,
    xlabel: str | None = None,
    title: str | None = None,
    dpi: int = 200,
) -> Figure:
    """Funnel plot: effect sizes against their standard errors (inverted axis), with the
    pooled estimate and its pseudo-confidence region. ``contour=True`` draws a
    contour-enhanced funnel centred on zero with shaded regions of two-sided significance
    (p > .10, .10–.05, .05–.01, < .01; Peters et al. 2008). Pass a trim-and-fill result as
    ``filled`` to draw the imputed studies as open circles.

    Parameters
    ----------
    res : RMAResult
        The fitted model; with moderators its residuals are plotted around zero.
    path : str or pathlib.Path, optional
        File to save the figure to (PNG, SVG or PDF by extension).
    contour : bool, default False
        Draw the contour-enhanced funnel.
    levels : sequence of float, default (0.90, 0.95, 0.99)
        The contours' confidence levels.
    filled : TrimFill, optional
        A :func:`~attunement.evidence.bias.trimfill` result of ``res``.
    xlabel, title : str, optional
        Horizontal axis label and title.
    dpi : int, default 200
        Resolution when saving a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        The funnel plot.

    Examples
    --------
    As metafor's ``funnel(trimfill(res))`` on the BCG log risk ratios:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> res = rma(dat, method="DL")
    >>> fig = funnel_plot(res, filled=res.trimfill())
    >>> bool(fig.axes[0].yaxis_inverted())
    True
    """
    model = res
    is_filled = np.zeros(res.k, dtype=bool)
    if filled is not None:
        model = filled.model
        is_filled = np.asarray(filled.filled, dtype=bool)
    yi, sei = model.yi, np.sqrt(model.vi)
    est = float(model.beta[0])
    if not model.int_only:
        # with moderators metafor plots residuals (yi minus the fitted value) around zero
        yi, est = model.yi - model.fitted(), 0.0
        xlabel = xlabel or "Residual value"
    se_max = float(sei.max()) * 1.08
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot(111)
    se_grid = np.linspace(0, se_max, 200)
    if contour:
        from matplotlib.patches import Patch

        pvals = sorted((1 - lv for lv in levels), reverse=True)  # e.g. 0.10, 0.05, 0.01
        zs = [_crit(pv, None) for pv in pvals]
        fills = ["#ffffff", "#dcdcdc", "#b0b0b0", "#858585"][: len(zs) + 1]
        span = max(float(np.abs(yi).max()), zs[-1] * se_max) * 1.15
        ax.axvspan(-span, span, color=fills[-1], zorder=0)
        for z, shade in zip(reversed(zs), reversed(fills[:-1]), strict=True):
            ax.fill_betweenx(se_grid, -z * se_grid, z * se_grid, color=shade, zorder=0, lw=0)
        ax.set_xlim(-span, span)
        handles = [Patch(facecolor=fills[0], edgecolor="#999999", label=f"p > {pvals[0]:.2f}")]
        for i, pv in enumerate(pvals):
            nxt = pvals[i + 1] if i + 1 < len(pvals) else None
            label = f"{nxt:.2f} < p \u2264 {pv:.2f}" if nxt else f"p \u2264 {pv:.2f}"
            handles.append(Patch(facecolor=fills[i + 1], edgecolor="#999999", label=label))
        ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True,
                  title="two-sided p (H0: effect = 0)", title_fontsize=8)
    else:
        z = _crit(res.alpha, None)
        region = Polygon([(est - z * se_max, se_max), (est, 0), (est + z * se_max, se_max)],
                         closed=True, facecolor="#eef2f7", edgecolor="#8899aa", lw=0.8,
                         zorder=0)
        ax.add_patch(region)
    ax.axvline(est, color=_INK, lw=1.0, zorder=1)
    ax.scatter(yi[~is_filled], sei[~is_filled], s=28, color=_STUDY, edgecolor="white",
               linewidth=0.5, zorder=3, label="studies")
    if is_filled.any():
        ax.scatter(yi[is_filled], sei[is_filled], s=28, facecolor="white", edgecolor=_STUDY,
                   linewidth=1.0, zorder=3, label="imputed (trim-and-fill)")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_ylim(se_max, 0)
    if not contour:
        xs = np.concatenate([yi, [est - 2.1 * se_max, est + 2.1 * se_max]])
        ax.set_xlim(xs.min(), xs.max())
    ax.set_ylabel("Standard error", fontsize=10)
    ax.set_xlabel(xlabel or _default_xlabel(res, None, False), fontsize=10)
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=11, loc="left", fontweight="bold")
    fig.tight_layout()
    _save(fig, path, dpi)
    return fig
