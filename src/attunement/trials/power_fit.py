"""The analyses of simulated trials for power: the vectorised LMM and GEE.

* continuous: a linear mixed model by REML, ``y ~ arm * time + (1 | centre) + (1 | family)``
  (``time`` replaced by the wave factor for a final-wave effect; ``* subgroup`` for moderator
  designs; the centre term is left out with one centre and the family term with one wave), with a
  t test on the arm contrast using between-within df. The fit is the profiled REML of lme4 (Bates et
  al. 2015) vectorised over simulations: with monotone dropout every family's cross-products are
  looked up from a table by (arm, subgroup, waves observed), V⁻¹ is explicit at both levels, so
  each REML evaluation for all simulations is a handful of small array operations, and the two
  relative variances are found by a vectorised projected Newton search. It agrees with
  :func:`attunement.trials.lmm.fit_lmm` (the lme4 formulation) to ~1e-6 (tested).
* count (Poisson; ``rate_control`` λ per wave in the control arm, ``rate_ratio`` at the last
  wave, ICCs on the log scale with level-1 variance ln(1 + 1/λ)), and binary with
  ``analysis="glmm"``: the GLMM with the same random effects as the continuous model, by
  Laplace as lme4's ``glmer``, fitted to all simulations at once
  (:mod:`attunement.trials.glmm_power`), Wald z test.
* binary: GEE (statsmodels) with a logit link, exchangeable working correlation within family
  (within centre when there is one wave) and robust (sandwich) SEs, Wald z test; with one centre
  and one wave, ordinary logistic regression.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from attunement.trials.power_design import _Layout


class _Batch:
    """Sufficient statistics of S simulated data sets for the REML criterion."""

    def __init__(self, layout: _Layout, sim: dict[str, np.ndarray]) -> None:
        d = layout.design
        self.layout = layout
        y, typ, m = sim["y"], sim["type"], sim["m"]
        S, F, T = y.shape
        K, R = d.centres, layout.types
        mask = np.arange(T)[None, None, :] < m[:, :, None]
        ym = np.where(mask, y, 0.0)
        sy = ym.sum(axis=2)
        self.S, self.T, self.p = S, T, layout.X.shape[2]
        self.n = m.sum(axis=1).astype(float)
        self.nfam = (m > 0).sum(axis=1).astype(float)
        self.yty = (ym * ym).sum(axis=(1, 2))
        # Xᵀy = Σ over (type, wave) of x · Σ_f y
        onehot = np.zeros((S, F, R))
        np.put_along_axis(onehot, typ[:, :, None], 1.0, axis=2)
        ysum = np.einsum("sfr,sfj->srj", onehot, ym)
        self.Xty = np.einsum("srj,rjp->sp", ysum, layout.X)
        # counts and y sums by (centre, type, m)
        cells = K * R * (T + 1)
        idx = (layout.centre[None, :] * R + typ) * (T + 1) + m
        flat = idx + np.arange(S)[:, None] * cells
        shape = (S, K, R, T + 1)
        self.N = np.bincount(flat.ravel(), minlength=S * cells).reshape(shape).astype(float)
        self.Qy = np.bincount(flat.ravel(), weights=sy.ravel(), minlength=S * cells).reshape(shape)
        self.R2 = np.bincount(flat.ravel(), weights=(sy * sy).ravel(),
                              minlength=S * cells).reshape(shape).sum(axis=(1, 2))  # (S, T+1)
        Nt = self.N.sum(axis=1)  # (S, R, T+1)
        self.XtX = np.einsum("srm,rmpq->spq", Nt, layout.Sxx)
        self.Nt = Nt
        self.Qt = self.Qy.sum(axis=1)  # (S, R, T+1)
        self.Nm = Nt.sum(axis=1)  # (S, T+1)
        Pxx = layout.sx[:, :, :, None] * layout.sx[:, :, None, :]  # (R, T+1, p, p)
        self.PxxF = Pxx.reshape(R * (T + 1), -1)
        self.Nc = self.N.sum(axis=2)  # (S, K, T+1)
        self.Qc = self.Qy.sum(axis=2)
        self.mvec = np.arange(T + 1, dtype=float)
        self.use_family = d.waves > 1
        self.use_centre = d.centres > 1

    def parts(self, gf: np.ndarray, gc: np.ndarray, sel: np.ndarray | None = None):
        """X'V⁻¹X, X'V⁻¹y, y'V⁻¹y (all × σ²) and log|V/σ²| for relative variances γ of the
        simulations ``sel`` (all by default)."""
        L = self.layout
        sel = slice(None) if sel is None else sel
        mv = self.mvec
        s = len(gf)
        w = gf[:, None] / (1 + mv[None, :] * gf[:, None])  # (s, T+1)
        a = 1 / (1 + mv[None, :] * gf[:, None])
        R, T1, p = self.Nt.shape[1], self.Nt.shape[2], self.p
        sxF = L.sx.reshape(R * T1, p)
        M = self.XtX[sel] - ((self.Nt[sel] * w[:, None, :]).reshape(s, R * T1)
                             @ self.PxxF).reshape(s, p, p)
        v = self.Xty[sel] - (self.Qt[sel] * w[:, None, :]).reshape(s, R * T1) @ sxF
        yy = self.yty[sel] - (self.R2[sel] * w).sum(axis=1)
        logdet = (self.Nm[sel] * np.log1p(mv[None, :] * gf[:, None])).sum(axis=1)
        if self.use_centre:
            N = self.N[sel]
            K = N.shape[1]
            h = (self.Nc[sel] * (mv[None, :] * a)[:, None, :]).sum(axis=2)  # (s, K)
            gx = (N * a[:, None, None, :]).reshape(s, K, R * T1) @ sxF  # (s, K, p)
            gy = (self.Qc[sel] * a[:, None, :]).sum(axis=2)  # (s, K)
            kappa = gc[:, None] / (1 + gc[:, None] * h)
            M = M - (gx * kappa[:, :, None]).transpose(0, 2, 1) @ gx
            v = v - ((kappa * gy)[:, None, :] @ gx)[:, 0, :]
            yy = yy - (kappa * gy * gy).sum(axis=1)
            logdet = logdet + np.log1p(gc[:, None] * h).sum(axis=1)
        return M, v, yy, logdet

    def criterion(self, theta: np.ndarray, sel: np.ndarray | None = None) -> np.ndarray:
        """REML criterion (−2 log restricted likelihood) for θ (s, 2) of simulations ``sel``."""
        gf, gc = theta[:, 0] ** 2, theta[:, 1] ** 2
        M, v, yy, logdet = self.parts(gf, gc, sel)
        sign, logdet_m = np.linalg.slogdet(M)
        b = np.linalg.solve(M, v[:, :, None])[:, :, 0]
        r = yy - np.einsum("sp,sp->s", b, v)
        n = self.n if sel is None else self.n[sel]
        df = n - self.p
        with np.errstate(invalid="ignore", divide="ignore"):
            out = logdet + logdet_m + df * (1 + math.log(2 * math.pi) + np.log(r / df))
        return np.where((sign > 0) & (r > 0), out, np.inf)

    def fit(self, start: np.ndarray, iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised Newton search over θ = (σ_family/σ, σ_centre/σ).

        The criterion depends on θ² only, so it is searched without bounds and reflected
        (|θ|), which keeps a boundary optimum (θ = 0) reachable without sticking there; a
        final check restarts any simulation at the boundary from inside.
        """
        active = np.array([self.use_family, self.use_centre])
        theta = np.where(active, start, 0.0).astype(float)
        theta = np.broadcast_to(theta, (self.S, 2)).copy()
        everyone = np.arange(self.S)
        theta, conv = self._newton(theta, everyone, active, iters)
        for i in np.flatnonzero(active):
            at0 = np.flatnonzero(theta[:, i] < 1e-3)
            if not len(at0):
                continue
            trial = theta[at0].copy()
            trial[:, i] = 0.1
            better = self.criterion(trial, at0) < self.criterion(theta[at0], at0)
            if better.any():
                idx = at0[better]
                again, conv2 = self._newton(trial[better], idx, active, iters)
                theta[idx] = again
                conv[idx] = conv2
        return theta, conv

    def _newton(self, theta: np.ndarray, sel: np.ndarray, active: np.ndarray, iters: int):
        """Newton with finite-difference derivatives, iterating only unconverged simulations."""
        h = 1e-4
        theta = theta.copy()
        converged = np.zeros(len(sel), bool)
        f0 = self.criterion(theta, sel)
        idx = np.flatnonzero(active)
        for _ in range(iters):
            todo = np.flatnonzero(~converged)
            if not len(todo):
                break
            th, sl, fz = theta[todo], sel[todo], f0[todo]
            m = len(todo)

            def crit(x: np.ndarray, sl: np.ndarray = sl) -> np.ndarray:
                return self.criterion(np.abs(x), sl)

            g = np.zeros((m, 2))
            H = np.zeros((m, 2, 2))
            for i in idx:
                e = np.zeros(2)
                e[i] = h
                fp, fm = crit(th + e), crit(th - e)
                g[:, i] = (fp - fm) / (2 * h)
                H[:, i, i] = (fp - 2 * fz + fm) / h ** 2
            if len(idx) == 2:
                e, e2 = np.array([h, h]), np.array([h, -h])
                H[:, 0, 1] = H[:, 1, 0] = (crit(th + e) - crit(th + e2) - crit(th - e2)
                                           + crit(th - e)) / (4 * h * h)
            for i in range(2):
                if not active[i]:
                    H[:, i, i] = 1.0
            # Newton where the Hessian is positive definite, else a scaled gradient step
            det = H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] ** 2
            pd_ = (H[:, 0, 0] > 0) & (det > 0)
            Hs = np.where(pd_[:, None, None], H, np.eye(2)[None] * np.maximum(
                np.abs(np.diagonal(H, axis1=1, axis2=2)).max(axis=1), 1.0)[:, None, None])
            step = -np.linalg.solve(Hs, g[:, :, None])[:, :, 0]
            step[:, ~active] = 0.0
            step = np.clip(step, -1.0, 1.0)
            t_new, f_new = th.copy(), fz.copy()
            accepted = np.zeros(m, bool)
            alpha = 1.0
            for _ in range(12):
                cand = np.abs(th + alpha * step)
                fc = crit(cand)
                better = (fc <= fz) & ~accepted
                t_new[better], f_new[better] = cand[better], fc[better]
                accepted |= better
                if accepted.all():
                    break
                alpha /= 2
            moved = np.abs(t_new - th).max(axis=1)
            done = (moved < 1e-8) | ~accepted | (np.abs(fz - f_new) < 1e-11)
            theta[todo], f0[todo] = t_new, f_new
            converged[todo[done]] = True
        return theta, converged

    def estimates(self, theta: np.ndarray):
        gf, gc = theta[:, 0] ** 2, theta[:, 1] ** 2
        M, v, yy, _ = self.parts(gf, gc)
        Minv = np.linalg.inv(M)
        b = np.einsum("spq,sq->sp", Minv, v)
        r = yy - np.einsum("sp,sp->s", b, v)
        sigma2 = r / (self.n - self.p)
        return b, sigma2[:, None, None] * Minv, sigma2


def _analyse_continuous(layout: _Layout, sim: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    d = layout.design
    batch = _Batch(layout, sim)
    ve = 1 - d.icc_centre - d.icc_family
    start = np.array([math.sqrt(max(d.icc_family, 0.05) / ve),
                      math.sqrt(max(d.icc_centre, 0.05) / ve)])
    theta, conv = batch.fit(start)
    b, vcov, sigma2 = batch.estimates(theta)
    k = layout.tested
    est = b[:, k]
    se = np.sqrt(np.stack([vcov[:, i, i] for i in k], axis=1))
    # between-within df (SAS DDFM=BW) for the nesting observation < family < centre
    p = batch.p
    K = d.centres if d.centres > 1 else 0
    p_bf = int(layout.between.sum()) if d.waves > 1 else p
    p_bc = int(layout.between_centre.sum()) if K else 0
    units = batch.nfam if d.waves > 1 else batch.n
    cols = []
    for i in k:
        if d.waves > 1 and not layout.between[i]:
            cols.append(batch.n - batch.nfam - (p - p_bf))
        elif not K or not layout.between_centre[i]:
            cols.append(units - K - (p_bf - p_bc))
        else:
            cols.append(np.full(batch.S, float(K - p_bc)))
    df = np.stack(cols, axis=1)
    pval = 2 * stats.t.sf(np.abs(est / se), df)
    return {"estimate": est, "se": se, "p": pval, "df": df, "converged": conv,
            "boundary": (theta[:, 1] < 1e-4) if d.centres > 1 else np.zeros(len(conv), bool),
            "theta": theta, "sigma2": sigma2}


def _analyse_binary(layout: _Layout, sim: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import warnings

    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, DomainWarning

    d = layout.design
    y, typ, m = sim["y"], sim["type"], sim["m"]
    S, _F, T = y.shape
    k = layout.tested
    est = np.full((S, len(k)), np.nan)
    se = np.full((S, len(k)), np.nan)
    conv = np.zeros(S, bool)
    for s in range(S):
        mask = np.arange(T)[None, :] < m[s][:, None]
        fam, wave = np.nonzero(mask)
        X = layout.X[typ[s, fam], wave]
        yy = y[s, fam, wave]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, DomainWarning, RuntimeWarning))
            try:
                if T > 1 or d.centres > 1:
                    groups = fam if T > 1 else layout.centre[fam]
                    model = sm.GEE(yy, X, groups=groups, family=sm.families.Binomial(),
                                   cov_struct=sm.cov_struct.Exchangeable())
                    res = model.fit(maxiter=60)
                else:
                    res = sm.GLM(yy, X, family=sm.families.Binomial()).fit()
                est[s] = res.params[k]
                se[s] = res.bse[k]
                conv[s] = bool(np.all(np.isfinite(se[s])))
            except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
                conv[s] = False
    with np.errstate(invalid="ignore"):
        pval = 2 * stats.norm.sf(np.abs(est / se))
    pval = np.where(np.isfinite(pval), pval, 1.0)
    return {"estimate": est, "se": se, "p": pval, "df": np.full_like(est, np.inf),
            "converged": conv, "boundary": np.zeros(S, bool)}
