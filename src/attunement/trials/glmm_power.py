"""Logistic and Poisson GLMMs fitted to many simulated trials at once, for power by simulation.

Each simulated trial of a :class:`~attunement.trials.power.TrialDesign` with a binary or count
outcome is
analysed as :func:`~attunement.trials.glmm.fit_glmm` (lme4's ``glmer``, Laplace approximation)
would analyse it: ``y ~ <fixed part> + (1 | centre) + (1 | family)`` (a term only when the
design has more than one centre / wave), Wald z test on the tested coefficient with the
standard error from the Hessian of the deviance in (θ, β), as lme4's default.

The S trials share their layout, so every step is an array operation over all of them:

* PIRLS for the conditional modes: families are nested in centres, so the penalised Hessian
  ΛᵀZᵀWZΛ + I is diagonal in the family effects and, after eliminating them, diagonal in the
  centre effects (a Schur complement per centre); each Newton step and log|L|² are closed-form
  sums over waves and families.
* the deviance in (θ, β) is minimised by a Newton search with finite-difference derivatives
  evaluated for all S trials together (each evaluation is one vectorised PIRLS).

Agreement: ``tests/trials/test_glmm_power.py`` checks single fits against ``fit_glmm`` (to 1e-5)
and the power against a plain simulate-and-``glmer`` loop in R (``tests/reference/
glmm_power.R``; simr is not installable here) within Monte Carlo error.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

__all__ = ["analyse_glmm"]


class _BatchGLMM:
    """S Bernoulli data sets on one layout: y, mask and design rows (S, F, T[, p])."""

    def __init__(self, X: np.ndarray, y: np.ndarray, mask: np.ndarray, centre: np.ndarray,
                 n_centres: int, fam_term: bool, centre_term: bool, poisson: bool = False) -> None:
        self.poisson = poisson
        self.X, self.y, self.mask = X, y, mask.astype(float)
        self.S, self.F, self.T, self.p = X.shape
        self.centre, self.K = centre, n_centres
        self.M = np.zeros((self.F, n_centres))
        self.M[np.arange(self.F), centre] = 1.0
        self.fam_term, self.centre_term = fam_term, centre_term
        self.nt = int(fam_term) + int(centre_term)
        self.uf = np.zeros((self.S, self.F))
        self.uc = np.zeros((self.S, self.K))

    def _thetas(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros(len(x))
        tf = x[:, 0] if self.fam_term else zero
        tc = x[:, int(self.fam_term)] if self.centre_term else zero
        return tf, tc

    def deviance(self, x: np.ndarray, sel: np.ndarray, keep: bool = False,
                 iters: int = 40) -> np.ndarray:
        """Laplace deviance at x (len(sel), nt + p) for the trials ``sel``."""
        X, y, mask = self.X[sel], self.y[sel], self.mask[sel]
        tf, tc = self._thetas(x)
        beta = x[:, self.nt:]
        fixed = np.einsum("sftp,sp->sft", X, beta)
        uf, uc = self.uf[sel].copy(), self.uc[sel].copy()
        C, M = self.centre, self.M

        ym = mask * y

        def state(uf: np.ndarray, uc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            eta = fixed + (tf[:, None] * uf + (tc[:, None] * uc)[:, C])[:, :, None]
            # log-likelihood without its constant: y·η − log(1 + e^η) (Bernoulli) or y·η − e^η
            # (Poisson; the constant −log y! changes neither the estimates nor the Hessian)
            b = np.exp(eta) if self.poisson else np.logaddexp(0.0, eta)
            ll = (ym * eta).sum(axis=(1, 2)) - (mask * b).sum(axis=(1, 2))
            return eta, -2 * ll + (uf * uf).sum(1) + (uc * uc).sum(1)

        eta, pdev = state(uf, uc)
        mu = np.exp(eta) if self.poisson else special.expit(eta)
        active = np.ones(len(sel), bool)
        for _ in range(iters):
            W = mask * (mu if self.poisson else mu * (1 - mu))
            Wf, rf = W.sum(2), (mask * (y - mu)).sum(2)
            a = tf[:, None] ** 2 * Wf + 1.0
            b = (tf * tc)[:, None] * Wf
            gf = tf[:, None] * rf - uf
            dc = tc[:, None] ** 2 * (Wf @ M) + 1.0
            gc = tc[:, None] * (rf @ M) - uc
            s = dc - (b * b / a) @ M
            dlc = (gc - (b * gf / a) @ M) / s
            dlf = (gf - b * dlc[:, C]) / a
            step = np.ones(len(sel))
            for _ in range(20):
                nf = uf + step[:, None] * dlf
                nc = uc + step[:, None] * dlc
                etan, pn = state(nf, nc)
                worse = ~(pn <= pdev + 1e-10 * np.abs(pdev))
                if not worse.any():
                    break
                step = np.where(worse, step / 2, step)
            upd = active & ~worse
            uf = np.where(upd[:, None], nf, uf)
            uc = np.where(upd[:, None], nc, uc)
            eta = np.where(upd[:, None, None], etan, eta)
            mu = np.exp(eta) if self.poisson else special.expit(eta)
            pdev = np.where(upd, pn, pdev)
            size = np.maximum(np.abs(step[:, None] * dlf).max(1, initial=0),
                              np.abs(step[:, None] * dlc).max(1, initial=0))
            active &= (size > 1e-10) & ~worse
            if not active.any():
                break
        W = mask * (mu if self.poisson else mu * (1 - mu))
        Wf = W.sum(2)
        a = tf[:, None] ** 2 * Wf + 1.0
        b = (tf * tc)[:, None] * Wf
        s = tc[:, None] ** 2 * (Wf @ M) + 1.0 - (b * b / a) @ M
        if keep:
            self.uf[sel], self.uc[sel] = uf, uc
        with np.errstate(invalid="ignore", divide="ignore"):
            out = pdev + np.log(a).sum(1) + np.log(s).sum(1)
        return np.where(np.isfinite(out), out, np.inf)

    def _gradient(self, x: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """Central-difference gradient (steps 1e-4·max(|x|, 0.1))."""
        h = 1e-4 * np.maximum(np.abs(x), 0.1)
        g = np.zeros_like(x)
        for i in range(x.shape[1]):
            e = np.zeros_like(x)
            e[:, i] = h[:, i]
            g[:, i] = (self.deviance(x + e, sel) - self.deviance(x - e, sel)) / (2 * h[:, i])
        return g

    def _derivatives(self, x: np.ndarray, sel: np.ndarray, f0: np.ndarray):
        """Central-difference gradient and Hessian (steps 1e-4·max(|x|, 0.1))."""
        d = x.shape[1]
        h = 1e-4 * np.maximum(np.abs(x), 0.1)
        g = np.zeros_like(x)
        H = np.zeros((len(sel), d, d))
        fp, fm = np.zeros_like(x), np.zeros_like(x)
        for i in range(d):
            e = np.zeros_like(x)
            e[:, i] = h[:, i]
            fp[:, i] = self.deviance(x + e, sel)
            fm[:, i] = self.deviance(x - e, sel)
            g[:, i] = (fp[:, i] - fm[:, i]) / (2 * h[:, i])
            H[:, i, i] = (fp[:, i] - 2 * f0 + fm[:, i]) / h[:, i] ** 2
        for i in range(d):
            for j in range(i):
                ei, ej = np.zeros_like(x), np.zeros_like(x)
                ei[:, i], ej[:, j] = h[:, i], h[:, j]
                v = (self.deviance(x + ei + ej, sel) - self.deviance(x + ei - ej, sel)
                     - self.deviance(x - ei + ej, sel) + self.deviance(x - ei - ej, sel))
                H[:, i, j] = H[:, j, i] = v / (4 * h[:, i] * h[:, j])
        return g, H

    def fit(self, x0: np.ndarray, iters: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Newton search from x0 (S, d); returns x, the Hessian at x and convergence."""
        x = x0.copy()
        S, d = x.shape
        every = np.arange(S)
        f = self.deviance(x, every, keep=True)
        active = np.isfinite(f)
        conv = np.zeros(S, bool)
        H_all = np.full((S, d, d), np.nan)
        H_cur = np.full((S, d, d), np.nan)
        fresh = np.ones(S, bool)  # whose Hessian is to be (re)computed
        for _ in range(iters):
            sel = np.flatnonzero(active)
            if not len(sel):
                break
            # Newton with the Hessian of the first step kept while it keeps giving descent
            # (each Hessian costs 2d² deviance evaluations, a gradient 2d)
            just = fresh[sel].copy()
            rf = sel[just]
            if len(rf):
                _, H_cur[rf] = self._derivatives(x[rf], rf, f[rf])
                fresh[rf] = False
            g = self._gradient(x[sel], sel)
            H = H_cur[sel]
            H_all[sel] = H
            ok = np.all(np.isfinite(H), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
            Hs = np.where(ok[:, None, None], H, np.eye(d)[None])
            w, V = np.linalg.eigh(Hs)
            w = np.maximum(np.abs(w), 1e-8 * np.maximum(1.0, np.abs(w).max(1, keepdims=True)))
            gs = np.where(ok[:, None], g, 0.0)
            step = -np.einsum("sij,sj->si", V, np.einsum("sji,sj->si", V, gs) / w)
            alpha = np.ones(len(sel))
            xs, fs = x[sel], f[sel]
            accepted = np.zeros(len(sel), bool)
            gain = np.zeros(len(sel))
            for _ in range(30):
                cand = xs + alpha[:, None] * step
                fc = self.deviance(cand, sel, keep=False)
                good = (fc <= fs) & ~accepted
                xs = np.where(good[:, None], cand, xs)
                gain = np.where(good, fs - fc, gain)
                fs = np.where(good, fc, fs)
                accepted |= good
                if accepted.all():
                    break
                alpha = np.where(accepted, alpha, alpha / 2)
            moved = np.abs(alpha[:, None] * step).max(1)
            x[sel], f[sel] = xs, fs
            self.deviance(x[sel], sel, keep=True)  # warm start at the accepted points
            # the Newton decrement gᵀH⁻¹g: the predicted gain of a full step
            decrement = -(gs * step).sum(1)
            small = accepted & ((decrement < 1e-8) | (moved < 1e-10))
            # a failed line search with an old Hessian: retry once with a fresh one
            retry = ~accepted & ok & ~just
            fresh[sel[retry]] = True
            done = ~ok | small | (~accepted & ~retry)
            conv[sel] = ok & (small | (~accepted & ~retry))
            active[sel[done]] = False
        # the Hessian at the final point (lme4's SEs)
        every_ok = np.flatnonzero(np.isfinite(f))
        if len(every_ok):
            _, H = self._derivatives(x[every_ok], every_ok, f[every_ok])
            H_all[every_ok] = H
        return x, H_all, conv


def _glm_start(X: np.ndarray, y: np.ndarray, mask: np.ndarray,
               poisson: bool = False) -> np.ndarray:
    """Ordinary logistic (Poisson) regression for every trial (IRLS), the starting β."""
    S, _, _, p = X.shape
    if poisson:
        mu = np.where(mask, y + 0.1, 1.0)
        eta = np.log(mu)
    else:
        mu = np.where(mask, (y + 0.5) / 2, 0.5)
        eta = special.logit(mu)
    beta = np.zeros((S, p))
    for _ in range(25):
        v = mu if poisson else mu * (1 - mu)
        W = mask * v
        z = eta + (y - mu) / v
        A = np.einsum("sft,sftp,sftq->spq", W, X, X) + 1e-10 * np.eye(p)
        r = np.einsum("sft,sftp,sft->sp", W, X, z)
        new = np.linalg.solve(A, r[..., None])[..., 0]
        eta = np.einsum("sftp,sp->sft", X, new)
        mu = np.exp(np.minimum(eta, 700)) if poisson else np.clip(special.expit(eta), 1e-10,
                                                                   1 - 1e-10)
        if np.max(np.abs(new - beta)) < 1e-8:
            beta = new
            break
        beta = new
    return beta


def analyse_glmm(layout, sim: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fit the planned logistic (binary outcome) or Poisson (count) GLMM to each simulated
    trial; the estimates, Wald SEs and two-sided p-values of the tested coefficients (the power
    module's result shape).

    Parameters
    ----------
    layout : _Layout
        The design's layout (families, arms, centres, design rows).
    sim : dict of str to numpy.ndarray
        The simulated trials (responses ``y``, row types, waves observed ``m``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``estimate``, ``se``, ``p``, ``df`` (infinite: z tests), ``converged``, ``boundary``
        and ``theta``, one row per simulated trial.

    Examples
    --------
    Each simulated trial's estimate is the one :func:`~attunement.trials.fit_glmm` gives on
    the same data (``tests/trials/test_glmm_power.py`` checks this on many designs):

    >>> import numpy as np
    >>> from attunement.trials import TrialDesign, fit_glmm, simulate_trial
    >>> from attunement.trials.power_design import _draw, _layout
    >>> design = TrialDesign(n_per_arm=40, waves=3, icc_family=0.2, outcome="count",
    ...                      rate_ratio=0.8)
    >>> layout = _layout(design)
    >>> out = analyse_glmm(layout, _draw(layout, 1, np.random.default_rng(5)))
    >>> fit = fit_glmm(design.formula, simulate_trial(design, seed=5), "poisson")
    >>> round(float(out["estimate"][0, 0]), 5), round(float(fit.fixed.estimate.iloc[3]), 5)
    (0.03883, 0.03883)
    """
    d = layout.design
    y, typ, m = sim["y"], sim["type"], sim["m"]
    S, _, T = y.shape
    mask = np.arange(T)[None, None, :] < m[:, :, None]
    X = layout.X[typ]  # (S, F, T, p)
    fam_term, centre_term = T > 1, d.centres > 1
    poisson = d.outcome == "count"
    batch = _BatchGLMM(X, np.where(mask, y, 0.0), mask, layout.centre, d.centres, fam_term,
                       centre_term, poisson)
    beta0 = _glm_start(X, y, mask, poisson)
    scale = d.latent_residual / (1 - d.icc_centre - d.icc_family)
    th = []
    if fam_term:
        th.append(math.sqrt(max(d.icc_family * scale, 0.05)))
    if centre_term:
        th.append(math.sqrt(max(d.icc_centre * scale, 0.05)))
    x0 = np.hstack([np.tile(th, (S, 1)), beta0])
    x, H, conv = batch.fit(x0)
    nt = batch.nt
    k = np.array(layout.tested)
    est = x[:, nt + k]
    se = np.full_like(est, np.nan)
    good = np.all(np.isfinite(H), axis=(1, 2))
    if good.any():
        with np.errstate(invalid="ignore"):
            try:
                V = 2.0 * np.linalg.inv(H[good])
            except np.linalg.LinAlgError:
                V = np.stack([2.0 * np.linalg.pinv(h) for h in H[good]])
            var = np.stack([V[:, nt + i, nt + i] for i in k], axis=1)
            se[good] = np.where(var > 0, np.sqrt(np.abs(var)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        pval = 2 * stats.norm.sf(np.abs(est / se))
    pval = np.where(np.isfinite(pval), pval, 1.0)
    boundary = (np.abs(x[:, int(fam_term)]) < 1e-4) if centre_term else np.zeros(S, bool)
    return {"estimate": est, "se": se, "p": pval, "df": np.full_like(est, np.inf),
            "converged": conv & np.all(np.isfinite(se), axis=1), "boundary": boundary,
            "theta": np.abs(x[:, :nt])}
