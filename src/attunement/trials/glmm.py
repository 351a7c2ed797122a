"""Generalised linear mixed models (binomial and Poisson) fitted as lme4's ``glmer``.

The formulation is lme4's (Bates, Mächler, Bolker & Walker 2015, *J Stat Softw* 67(1), §5 of
the lme4 "Computational methods" vignette): the linear predictor is η = offset + Xβ + ZΛθ u with
spherical random effects u ~ N(0, I); for given (θ, β) penalised iteratively reweighted least
squares (PIRLS) finds the conditional mode ũ of u, and the Laplace approximation to the
deviance is

    −2 log L(θ, β) ≈ Σ aic_i(μ) + |ũ|² + log|L|²,   L Lᵀ = ΛᵀZᵀWZΛ + I,

where aic_i is −2 times the conditional log-density of observation i (R's ``family$aic``) and W
the GLM working weights (w_i μ'(η_i)² / V(μ_i)). With a single scalar grouping factor the
integral over each level's effect is one-dimensional and adaptive Gauss–Hermite quadrature
(``nagq`` > 1) replaces the Laplace step, as lme4's ``glmerAGQ``: nodes centred on ũ_j and
scaled by 1/L_jj. As in lme4, (θ, β) are optimised jointly on this deviance, and the standard
errors of β come from the Hessian of the deviance in (θ, β) (lme4's default ``use.hessian``),
here by central differences with steps of 1e-4 as lme4's ``deriv12``.

Families: ``binomial`` (links ``logit``, ``probit``) with a 0/1 response, a
``cbind(successes, failures)`` response or proportions with ``weights`` = number of trials;
``poisson`` (link ``log``) with an optional offset (``offset(log(exposure))`` in the formula or
the ``offset`` argument).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special, stats

from attunement._blas import bounded_blas
from attunement.trials import mixed, newton
from attunement.trials.formula import Formula, FormulaError, columns_of, evaluate, parse_formula
from attunement.trials.glmm_blocks import BlockFactor
from attunement.trials.glmm_response import Response, response_values, split_response
from attunement.trials.mixed import MixedFit, _lower, _Term, term_factors, variance_rows
from attunement.trials.mixed import rows_text as _rows

__all__ = ["GLMMResult", "fit_glmm"]

_EPS = np.finfo(float).eps
_LINKS = {"binomial": ("logit", "probit"), "poisson": ("log",)}


# ---------------------------------------------------------------------------------------------
# families


class _Family:
    """Inverse link, its derivative, variance, deviance residuals and −2 log-density (R's aic)."""

    def __init__(self, family: str, link: str) -> None:
        self.family, self.link = family, link

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        if self.link == "logit":
            return np.clip(special.expit(eta), _EPS, 1 - _EPS)
        if self.link == "probit":
            return np.clip(special.ndtr(eta), _EPS, 1 - _EPS)
        return np.maximum(np.exp(eta), _EPS)

    def mu_eta(self, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        if self.link == "logit":
            return np.maximum(mu * (1 - mu), _EPS)
        if self.link == "probit":
            return np.maximum(np.exp(-0.5 * eta * eta) / math.sqrt(2 * math.pi), _EPS)
        return mu

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1 - mu) if self.family == "binomial" else mu

    def dev_resid(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        if self.family == "binomial":
            return 2 * wt * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))
        return 2 * wt * (special.xlogy(y, y / mu) - (y - mu))

    def log_const(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """The part of log p(y_i | μ_i) free of μ: log C(n, k) or −log y!."""
        if self.family == "binomial":
            n, k = np.round(wt), np.round(wt * y)
            return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
        return -wt * special.gammaln(y + 1)

    def aic_terms(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray,
                  const: np.ndarray | None = None) -> np.ndarray:
        """−2 log p(y_i | μ_i) per observation (R's ``binomial()$aic`` / ``poisson()$aic``)."""
        c = self.log_const(y, wt) if const is None else const
        if self.family == "binomial":
            n, k = np.round(wt), np.round(wt * y)
            return -2 * (c + special.xlogy(k, mu) + special.xlogy(n - k, 1 - mu))
        return -2 * (c + wt * (special.xlogy(y, mu) - mu))

    def start(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """R's ``mustart``: (w y + 0.5)/(w + 1) for binomial, y + 0.1 for Poisson."""
        if self.family == "binomial":
            return (wt * y + 0.5) / (wt + 1)
        return y + 0.1

    def working(self, y: np.ndarray, wt: np.ndarray, eta: np.ndarray,
                mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GLM working weights wμ'(η)²/V(μ) and the score terms w(y − μ)μ'(η)/V(μ)."""
        me = self.mu_eta(eta, mu)
        var = self.variance(mu)
        return wt * me * me / var, wt * (y - mu) * me / var

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        if self.link == "logit":
            return special.logit(mu)
        if self.link == "probit":
            return special.ndtri(mu)
        return np.log(mu)


# ---------------------------------------------------------------------------------------------
# the model: PIRLS and the Laplace / adaptive Gauss–Hermite deviance


class _GLMM:
    def __init__(self, X: np.ndarray, y: np.ndarray, wt: np.ndarray, offset: np.ndarray,
                 terms: list[_Term], fam: _Family) -> None:
        self.X, self.y, self.wt, self.offset, self.terms, self.fam = X, y, wt, offset, terms, fam
        self.n, self.p = X.shape
        self.ntheta = sum(t.ntheta for t in terms)
        self.scalar = len(terms) == 1 and terms[0].k == 1
        self.q = sum(t.m * t.k for t in terms)
        self.lower = mixed.theta_lower_bounds(terms)
        # constant part of the conditional −2 log-density: aic = Σ dev_resid + const
        self.u = np.zeros(self.q)
        self.const = fam.log_const(y, wt)
        if self.scalar:
            t = terms[0]
            self.codes, self.z = t.codes, t.Z[:, 0]
        else:
            # each row of ZΛ has one non-zero per random-effect column of each term, at the
            # columns of its level: keep their positions and form ZΛ's values per θ
            cols, off = [], 0
            for t in terms:
                cols.append(off + t.codes[:, None] * t.k + np.arange(t.k)[None, :])
                off += t.m * t.k
            self.cols = np.hstack(cols)  # (n, K)
        _, cols = self._values(np.ones(self.ntheta))
        self.blocks = BlockFactor(cols, terms[0].k, terms[0].m, self.q)

    def _zl(self, theta: np.ndarray) -> np.ndarray:
        """Values of ZΛ at ``self.cols`` (n × K)."""
        vals, idx = [], 0
        for t in self.terms:
            lam = _lower(theta[idx: idx + t.ntheta], t.k)
            idx += t.ntheta
            vals.append(t.Z @ lam)
        return np.hstack(vals)

    def pirls(self, theta: np.ndarray, beta: np.ndarray, tol: float = 1e-12,
              maxit: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Conditional mode ũ at (θ, β): returns ũ, μ, the diagonal of the Cholesky factor of
        ΛᵀZᵀWZΛ + I and convergence."""
        fam, y, wt = self.fam, self.y, self.wt
        fixed = self.offset + self.X @ beta
        u = self.u.copy()
        if self.scalar:
            lam = float(theta[0])
            m = self.terms[0].m

            def lin(u: np.ndarray) -> np.ndarray:
                return fixed + lam * self.z * u[self.codes]
        else:
            vals, cols = self._zl(theta), self.cols

            def lin(u: np.ndarray) -> np.ndarray:
                return fixed + (vals * u[cols]).sum(axis=1)

        def pdev(eta: np.ndarray, u: np.ndarray) -> tuple[float, np.ndarray]:
            mu = fam.linkinv(eta)
            return float(fam.dev_resid(y, mu, wt).sum() + u @ u), mu

        eta = lin(u)
        old, mu = pdev(eta, u)
        if not np.isfinite(old):
            u = np.zeros(self.q)
            eta = lin(u)
            old, mu = pdev(eta, u)
        ok = False
        for _ in range(maxit):
            W, r = fam.working(y, wt, eta, mu)
            if self.scalar:
                zw = lam * self.z
                A = np.bincount(self.codes, W * zw * zw, m) + 1.0
                delta = (np.bincount(self.codes, zw * r, m) - u) / A
            else:
                self.blocks.factor(vals, W)
                grad = np.bincount(cols.ravel(), (vals * r[:, None]).ravel(), self.q) - u
                delta = self.blocks.solve(grad)
            step = 1.0
            for _ in range(30):
                un = u + step * delta
                en = lin(un)
                new, mun = pdev(en, un)
                if new <= old + 1e-10 * abs(old):
                    break
                step /= 2
            else:
                break
            u, eta, mu = un, en, mun
            gain = old - new
            old = new
            # the log-determinant is not stationary in u: converge u itself, not only the
            # penalised deviance, so that finite-difference derivatives of the deviance are clean
            if gain < tol * (abs(new) + 1e-3) and step * float(np.max(np.abs(delta))) < 1e-10:
                ok = True
                break
        me = fam.mu_eta(eta, mu)
        W = wt * me * me / fam.variance(mu)
        if self.scalar:
            zw = lam * self.z
            factor = np.sqrt(np.bincount(self.codes, W * zw * zw, self.terms[0].m) + 1.0)
        else:
            factor = self.blocks.factor(vals, W)
        self.u = u
        return u, mu, factor, ok

    def _values(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ZΛ's non-zero values and their columns (n × K each)."""
        if self.scalar:
            return (float(theta[0]) * self.z)[:, None], self.codes[:, None]
        return self._zl(theta), self.cols

    def joint_mode(self, theta: np.ndarray, beta: np.ndarray,
                   maxit: int = 60) -> tuple[np.ndarray, bool]:
        """β at the joint conditional mode of (u, β) for θ: PIRLS over both, lme4's nAGQ = 0
        stage (u eliminated through the block factor); the conditional modes are left at the
        mode for a warm start."""
        fam, y, wt, X, q = self.fam, self.y, self.wt, self.X, self.q
        vals, cols = self._values(theta)
        blocks = self.blocks
        u, beta = self.u.copy(), beta.copy()

        def zt(v: np.ndarray) -> np.ndarray:  # (ZΛ)ᵀ v for each column of v (n × r)
            w = (vals[:, :, None] * v[:, None, :]).reshape(-1, v.shape[1])
            idx = np.repeat(cols.ravel() * v.shape[1], v.shape[1]) + np.tile(
                np.arange(v.shape[1]), cols.size)
            return np.bincount(idx, w.ravel(), q * v.shape[1]).reshape(q, v.shape[1])

        def pdev(u: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            eta = self.offset + X @ beta + (vals * u[cols]).sum(axis=1)
            mu = fam.linkinv(eta)
            return float(fam.dev_resid(y, mu, wt).sum() + u @ u), eta, mu

        old, eta, mu = pdev(u, beta)
        if not np.isfinite(old):
            u = np.zeros(q)
            old, eta, mu = pdev(u, beta)
        ok = False
        for _ in range(maxit):
            W, r = fam.working(y, wt, eta, mu)
            blocks.factor(vals, W)
            B = zt(W[:, None] * X)                                   # ΛᵀZᵀWX
            sol = blocks.solve(np.column_stack([zt(r[:, None])[:, 0] - u, B]))
            g2 = X.T @ r
            S = X.T @ (W[:, None] * X) - B.T @ sol[:, 1:]
            db = linalg.solve(S, g2 - B.T @ sol[:, 0], assume_a="pos", check_finite=False)
            du = sol[:, 0] - sol[:, 1:] @ db
            step = 1.0
            for _ in range(30):
                un, bn = u + step * du, beta + step * db
                new, en, mun = pdev(un, bn)
                if new <= old + 1e-10 * abs(old):
                    break
                step /= 2
            else:
                break
            u, beta, eta, mu = un, bn, en, mun
            gain, old = old - new, new
            moved = step * max(float(np.max(np.abs(du), initial=0.0)), float(np.max(np.abs(db))))
            if gain < 1e-10 * (abs(new) + 1e-3) and moved < 1e-8:
                ok = True
                break
        self.u = u
        return beta, ok

    def deviance(self, theta: np.ndarray, beta: np.ndarray, nagq: int = 1) -> float:
        """Laplace (nagq = 1) or adaptive Gauss–Hermite deviance at (θ, β)."""
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                u, mu, factor, _ = self.pirls(theta, beta)
        except (np.linalg.LinAlgError, ValueError):
            self.u = np.zeros(self.q)
            return np.inf
        diag = factor
        ldL2 = 2.0 * float(np.log(diag).sum())
        aic = float(self.fam.aic_terms(self.y, mu, self.wt, self.const).sum())
        if nagq == 1:
            out = aic + float(u @ u) + ldL2
            return out if np.isfinite(out) else np.inf
        # adaptive Gauss–Hermite for one scalar grouping factor (lme4's glmerAGQ)
        fam, y, wt = self.fam, self.y, self.wt
        m, codes = self.terms[0].m, self.codes
        lam = float(theta[0])
        fixed = self.offset + self.X @ beta
        dres0 = fam.dev_resid(y, mu, wt)
        devc0 = np.bincount(codes, dres0, m) + u * u
        sd = 1.0 / diag
        z, w, ldnorm = _gh_rule(nagq)
        nz = z != 0
        uk = u[None, :] + z[nz, None] * sd[None, :]  # (nodes, m)
        muk = fam.linkinv(fixed[None, :] + lam * self.z[None, :] * uk[:, codes])
        dres = fam.dev_resid(y[None, :], muk, wt[None, :])
        idx = (np.arange(int(nz.sum()))[:, None] * m + codes[None, :]).ravel()
        devc = np.bincount(idx, dres.ravel(), nz.sum() * m).reshape(-1, m) + uk * uk
        mult = (w[nz, None] * np.exp(-0.5 * (devc - devc0[None, :]) - ldnorm[nz, None])
                / math.sqrt(2 * math.pi)).sum(0)
        if (~nz).any():
            mult += w[~nz].sum()
        out = aic - float(dres0.sum()) + float(devc0.sum()) + ldL2 - 2.0 * float(
            np.log(mult).sum())
        return out if np.isfinite(out) else np.inf


@functools.lru_cache(maxsize=32)
def _gh_rule(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes, weights for the standard normal density, and log φ at the nodes
    (lme4's ``GHrule``)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    z = np.where(np.abs(z) < 1e-12, 0.0, z)
    return z, w / math.sqrt(2 * math.pi), stats.norm.logpdf(z)


# ---------------------------------------------------------------------------------------------
# result


@dataclass
class GLMMResult(MixedFit):
    """A fitted generalised linear mixed model (see :func:`fit_glmm`).

    Examples
    --------
    The first five herds of lme4's ``cbpp``, period as a number; R: ``glmer(cbind(incidence,
    size - incidence) ~ period + (1 | herd), d, binomial, control = glmerControl(tolPwrss =
    1e-12))`` gives period −0.51580 (SE 0.19585), herd variance 0.07437 and logLik −35.12203
    (lme4 1.1-31):

    >>> import pandas as pd
    >>> herds = pd.DataFrame({
    ...     "herd": [1] * 4 + [2] * 3 + [3] * 4 + [4] * 4 + [5] * 4,
    ...     "incidence": [2, 3, 4, 0, 3, 1, 1, 8, 2, 0, 2, 2, 0, 2, 0, 5, 0, 0, 1],
    ...     "size": [14, 12, 9, 5, 22, 18, 21, 22, 16, 16, 20, 10, 10, 9, 6, 18, 25, 24, 4],
    ...     "period": [1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]})
    >>> fit = fit_glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", herds)
    >>> fit.fixed.loc[1, ["estimate", "se"]].astype(float).round(5).tolist()
    [-0.5158, 0.19585]
    >>> round(fit.variance_components()["herd"], 5), round(fit.loglik, 5)
    (0.07438, -35.12203)
    >>> round(fit.to_dict()["fixed"]["period"]["p"], 4)
    0.0084
    """

    family: str
    link: str
    nagq: int

    def to_dict(self) -> dict:
        """The CLI's JSON shape, as for the LMM.

        Returns
        -------
        dict
            ``fixed`` {term: {estimate, se, z, p}}, ``variance``, ``loglik`` and the fitting
            details (family, link, Laplace or quadrature).
        """
        fixed = {r.term: {"estimate": float(r.estimate), "se": float(r.se), "z": float(r.z),
                          "p": float(r.p)} for r in self.fixed.itertuples()}
        method = "Laplace" if self.nagq == 1 else f"adaptive Gauss-Hermite ({self.nagq})"
        head = {"family": self.family, "link": self.link, "method": method}
        return mixed.summary_dict(self, head, fixed,
                                  {"singular": self.singular, "converged": self.converged})

    def _modes(self, model: _GLMM) -> list[np.ndarray]:
        u, _, _, _ = model.pirls(self.theta, self.fixed["estimate"].to_numpy())
        modes, off = [], 0
        for t, lam in zip(model.terms, term_factors(model.terms, self.theta), strict=True):
            modes.append(u[off: off + t.m * t.k].reshape(t.m, t.k) @ lam.T)
            off += t.m * t.k
        return modes

    def _offset(self, model: _GLMM, newdata: pd.DataFrame | None) -> np.ndarray:
        if newdata is None:
            return model.offset
        if model.offset_of is None:
            raise ValueError("the model's offset was given as an array, which newdata cannot "
                             "extend: fit with the offset as a column name or offset() term")
        return model.offset_of(newdata)

    def _linkinv(self, eta: np.ndarray) -> np.ndarray:
        return _Family(self.family, self.link).linkinv(eta)

    def _draw(self, model: _GLMM, nsim: int, rng: np.random.Generator) -> np.ndarray:
        """Binomial proportions out of each row's trials or Poisson counts."""
        zb = mixed.simulated_random_part(model.terms, self.theta, nsim, rng)
        eta = (model.X @ self.fixed["estimate"].to_numpy() + model.offset)[:, None] + zb
        mu = model.fam.linkinv(eta)
        if self.family == "poisson":
            return rng.poisson(mu).astype(float)
        trials = np.round(model.wt)
        if np.any(np.abs(model.wt - trials) > 1e-8):
            raise ValueError("cannot simulate from non-integer prior weights (as R)")
        return rng.binomial(trials.astype(np.int64)[:, None], mu) / trials[:, None]

    def __str__(self) -> str:
        method = ("Laplace Approximation" if self.nagq == 1
                  else f"Adaptive Gauss-Hermite Quadrature (nAGQ = {self.nagq})")
        lines = [
            f"Generalized linear mixed model fit by maximum likelihood ({method})",
            f" Family: {self.family}  ( {self.link} )",
            f"Formula: {self.formula}",
            "",
            f"     AIC      BIC   logLik deviance\n{self.aic:8.1f} {self.bic:8.1f} "
            f"{self.loglik:8.1f} {self.deviance:8.1f}",
            "",
            *mixed.random_effects_lines(self.variance, self.ngroups, self.nobs, self.dropped),
            "",
            "Fixed effects:",
            f" {'':<22}{'Estimate':>11}{'Std. Error':>12}{'z value':>9}{'Pr(>|z|)':>10}"]
        for r in self.fixed.itertuples():
            p = "<1e-16" if r.p < 1e-16 else f"{r.p:.3g}"
            lines.append(f" {r.term:<22}{r.estimate:>11.5f}{r.se:>12.5f}{r.z:>9.3f}{p:>10}")
        lines += mixed.warning_lines(self.singular, self.converged, self.optimizer_message)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# fitting


def _hessian(f, x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian with steps of 1e-4, as lme4's ``deriv12``."""
    return newton.central_derivatives(f, x, np.full(len(x), 1e-4))[1]


def _newton(f, x: np.ndarray,
            iters: int = 100) -> tuple[np.ndarray, float, bool, np.ndarray | None]:
    """Newton search with central-difference derivatives; the Hessian is kept for up to three
    steps while it gives descent (a Hessian costs 2d² evaluations, a gradient 2d). The
    deviance depends on θ only through ΛΛᵀ, so no bounds are needed (see ``lmm``). Returns
    the Hessian too when it was taken at the returned point (for the standard errors)."""
    fx = f(x)
    H, age, decrement = None, 0, np.inf
    hs = np.full(len(x), 1e-4)
    for _ in range(iters):
        # near the optimum (a small last decrement) take a fresh Hessian: it is most likely
        # the one at the optimum, which the standard errors need anyway
        if H is None or age >= 3 or decrement < 1e-5:
            g, H = newton.central_derivatives(f, x, hs, fx)
            age = 0
        else:
            g = np.array([(f(x + e) - f(x - e)) / (2 * h) for e, h in
                          zip(np.diag(hs), hs, strict=True)])
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(g))):
            return x, fx, False, None
        step = newton.newton_direction(g, H)
        decrement = float(-(g @ step))
        if decrement < 1e-10:
            return x, fx, True, H if age == 0 else None
        cand, fc, improved = newton.backtrack(f, x, step, fx)
        if not improved:
            if age == 0:
                return x, fx, decrement < 1e-6, H
            H = None
            continue
        moved = float(np.max(np.abs(cand - x)))
        if age == 0 and decrement < 1e-6 and moved < hs.min():
            # a full Newton step from a fresh Hessian this close converges quadratically (the
            # next decrement is ~decrement²); the step is inside the Hessian's difference
            # stencil, so that Hessian serves for the standard errors
            return cand, fc, True, H
        x, fx = cand, fc
        age += 1
        if moved < 1e-10:
            return x, fx, True, None
    return x, fx, False, None


def _glm_start(model: _GLMM) -> np.ndarray:
    """β from an ordinary GLM (IRLS, no random effects), lme4's starting point."""
    fam, X, y, wt = model.fam, model.X, model.y, model.wt
    mu = fam.start(y, wt)
    eta = fam.linkfun(mu)
    beta = np.zeros(model.p)
    for _ in range(50):
        me = fam.mu_eta(eta, mu)
        W = wt * me * me / fam.variance(mu)
        z = eta - model.offset + (y - mu) / me
        new = np.linalg.lstsq(X * np.sqrt(W)[:, None], z * np.sqrt(W), rcond=None)[0]
        eta = model.offset + X @ new
        mu = fam.linkinv(eta)
        if np.max(np.abs(new - beta)) < 1e-10:
            beta = new
            break
        beta = new
    return beta


def _theta_stage(model: _GLMM, beta0: np.ndarray) -> np.ndarray:
    """lme4's first stage (nAGQ = 0): θ alone is optimised, with β and u at their joint
    conditional mode for each θ; the result starts the search in (θ, β)."""
    cache: dict[bytes, np.ndarray] = {}

    def f(th: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                beta, _ = model.joint_mode(th, cache.get(b"last", beta0))
            except (np.linalg.LinAlgError, ValueError):
                model.u = np.zeros(model.q)
                return 1e100
        if not np.all(np.isfinite(beta)):
            return 1e100
        cache[b"last"] = beta
        cache[th.tobytes()] = beta
        v = model.deviance(th, beta, 1)
        return v if np.isfinite(v) else 1e100

    theta0 = np.where(model.lower == 0, 1.0, 0.0)
    bounds = [(lb if np.isfinite(lb) else None, None) for lb in model.lower]
    res = optimize.minimize(f, theta0, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-10, "gtol": 1e-6, "maxiter": 200})
    f(res.x)
    return np.concatenate([res.x, cache.get(res.x.tobytes(), beta0)])


def _optimise(model: _GLMM, nagq: int) -> tuple[np.ndarray, bool, str, np.ndarray | None]:
    nt = model.ntheta

    def f(x: np.ndarray) -> float:
        return model.deviance(x[:nt], x[nt:], nagq)

    def f_finite(x: np.ndarray) -> float:
        # L-BFGS-B's line search gives up on an infinite value; a huge finite one backtracks
        v = f(x)
        return v if np.isfinite(v) else 1e100

    beta0 = _glm_start(model)
    # as lme4: θ alone first (β profiled by PIRLS), then (θ, β) from there
    x, fx, ok, H = _newton(f, _theta_stage(model, beta0))
    # θ = 0 is a stationary point of the sign-symmetric deviance, which Newton cannot leave:
    # where a variance sits there and the deviance falls away from it (or the curvature there
    # is unknown), search again from inside
    wall = np.flatnonzero((model.lower == 0) & (np.abs(x[:nt]) < 1e-3))
    if len(wall) and (H is None or np.any(np.diag(H)[wall] < 0)):
        inside = x.copy()
        inside[wall] = 0.1
        y, fy, ok_y, H_y = _newton(f, inside)
        if fy < fx - 1e-10 or not ok:
            x, fx, ok, H = y, fy, ok_y, H_y
    if not ok or not np.isfinite(fx):
        theta0 = np.where(model.lower == 0, 1.0, 0.0)
        x0 = np.concatenate([theta0, beta0])
        bounds = ([(lb if np.isfinite(lb) else None, None) for lb in model.lower]
                  + [(None, None)] * model.p)
        with np.errstate(invalid="ignore"):  # inf − inf in a difference quotient near a wall
            res = optimize.minimize(f_finite, x0, method="L-BFGS-B", bounds=bounds,
                                    options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 1000})
        x, fx, ok, H = _newton(f, res.x)
    msg = ""
    if not ok or not np.isfinite(fx):
        res2 = optimize.minimize(f, x, method="Nelder-Mead",
                                 options={"xatol": 1e-9, "fatol": 1e-12,
                                          "maxfev": 4000 * len(x)})
        if res2.fun <= fx:
            x, fx, H = res2.x, res2.fun, None
        ok = bool(res2.success)
        msg = "" if ok else str(res2.message)
    # the deviance depends on θ through ΛΛᵀ only: flip columns with a negative diagonal
    before = x.copy()
    th = mixed.canonical_theta(x[:nt], model.terms)
    x[:nt] = th
    snapped = x.copy()
    snapped[:nt][(model.lower == 0) & (np.abs(th) < 1e-5)] = 0.0
    if f(snapped) <= fx + 1e-9:
        x = snapped
    if np.max(np.abs(x - before)) > 1e-8:  # far below the Hessian's steps of 1e-4
        H = None
    return x, ok and bool(np.isfinite(fx)), msg, H


def refit_response(model: _GLMM, y: np.ndarray, nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """(θ, β) of the model refitted to another response ``y`` (same design, weights, offset
    and random-effects terms), as the fit itself is optimised: for a parametric bootstrap.

    Parameters
    ----------
    model : _GLMM
        A fit's model (``fit._model``).
    y : numpy.ndarray
        The new response (proportions for a binomial model).
    nagq : int
        1 for Laplace, more for adaptive quadrature.

    Returns
    -------
    theta, beta : numpy.ndarray
        The refitted θ and fixed effects.

    Examples
    --------
    Refitted to its own response, a fit returns its own estimates:

    >>> import pandas as pd
    >>> counts = pd.DataFrame({"visits": [0, 2, 1, 3, 4, 2, 5, 6, 1, 1],
    ...                        "x": [0, 1] * 5, "g": list("aabbccddee")})
    >>> fit = fit_glmm("visits ~ x + (1 | g)", counts, "poisson")
    >>> theta, beta = refit_response(fit._model, fit._model.y, 1)
    >>> beta.round(4).tolist() == fit.fixed.estimate.round(4).tolist()
    True
    """
    again = _GLMM(model.X, y, model.wt, model.offset, model.terms, model.fam)
    x, _, _, _ = _optimise(again, nagq)
    return x[:again.ntheta], x[again.ntheta:]


def _build(formula: str, data: pd.DataFrame, family: str, link: str | None,
           weights: str | np.ndarray | None, offset: str | np.ndarray | None,
           contrasts: dict[str, str] | None = None):
    if family not in _LINKS:
        raise ValueError(f"family must be 'binomial' or 'poisson', not {family!r}")
    link = link or _LINKS[family][0]
    if link not in _LINKS[family]:
        raise ValueError(f"the {family} family takes link {' or '.join(_LINKS[family])}, "
                         f"not {link!r}")
    resp = split_response(formula)
    f = parse_formula(resp.formula)
    extra = [c for c in [*resp.columns, *([offset] if isinstance(offset, str) else [])]]
    needed = list(dict.fromkeys(extra + [v for v in f.variables if v != "_response_"]))
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise FormulaError(f"the data have no column(s) {missing}; columns are {list(data.columns)}")
    n_all = len(data)
    w_arr = mixed.prior_weights(data, weights)
    o_arr = None if offset is None or isinstance(offset, str) else np.asarray(offset, float)
    if o_arr is not None and o_arr.shape != (n_all,):
        raise ValueError(f"offset has {o_arr.size} values for {n_all} rows")
    bad = data[needed].isna().any(axis=1).to_numpy().copy()
    if o_arr is not None:
        bad |= np.isnan(o_arr)
    if bad.any():
        # lme4's default na.action drops incomplete rows; we do so explicitly and report it.
        data = data.loc[~bad]
        w_arr = None if w_arr is None else w_arr[~bad]
        o_arr = None if o_arr is None else o_arr[~bad]
    if len(data) == 0:
        raise FormulaError("no complete rows: every row has a missing value in the model's "
                           "columns")
    y, wt = response_values(resp, data, family, w_arr)
    column = offset if isinstance(offset, str) else None
    off = _data_offset(data, resp, f, column)
    if o_arr is not None:
        off += o_arr
    X, names, terms = mixed.design_matrices(f, data, "a GLM (or GEE)", len(y), contrasts)
    model = _GLMM(X, y, wt, off, terms, _Family(family, link))
    # for predict with newdata: the rows that fix the factor levels and how to form the offset
    model.data, model.parsed, model.contrasts = data, f, contrasts
    model.offset_of = None if o_arr is not None else (
        lambda new: _data_offset(new, resp, f, column, "newdata: "))
    return model, names, n_all - len(data), link


def _data_offset(data: pd.DataFrame, resp: Response, f: Formula, column: str | None,
                 where: str = "") -> np.ndarray:
    """The offset the data's columns give: the ``offset`` column, ``offset(log(x))`` and any
    other ``offset(expr)`` of the formula."""
    off = np.zeros(len(data))
    needed = [c for c in [*([column] if column else []), *(c for c, _ in resp.offset),
                          *(c for t in f.offsets for c in columns_of(t))]]
    missing = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing:
        raise FormulaError(f"{where}the offset needs column(s) {missing}; columns are "
                           f"{list(data.columns)}")
    if column is not None:
        off += data[column].to_numpy(float)
    for col, is_log in resp.offset:
        v = data[col].to_numpy(float)
        if is_log:
            if np.any(v <= 0):
                raise FormulaError(f"{where}offset(log({col})): {col} must be positive: "
                                   f"{_rows(v <= 0, data.index)}")
            v = np.log(v)
        off += v
    for term in f.offsets:  # any other offset(expr), evaluated as the formula's terms
        off += evaluate(data, term)
    if where and np.isnan(off).any():
        raise FormulaError(f"{where}the offset is missing in {_rows(np.isnan(off), data.index)}")
    return off


@bounded_blas
def fit_glmm(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    link: str | None = None,
    nagq: int = 1,
    weights: str | np.ndarray | None = None,
    offset: str | np.ndarray | None = None,
    contrasts: dict[str, str] | None = None,
) -> GLMMResult:
    """Fit a binomial or Poisson GLMM by maximum likelihood, as lme4's ``glmer``.

    A binomial response takes the logit or probit link and a count the log link; the
    likelihood is integrated over the random effects by the Laplace approximation
    (``nagq=1``) or by adaptive Gauss–Hermite quadrature.

    Parameters
    ----------
    formula : str
        An lme4-style formula. The response is a 0/1 or count column, ``cbind(successes,
        failures)``, ``cbind(successes, total - successes)`` or ``successes / total`` (a
        proportion weighted by ``total``); ``offset(expr)`` (e.g. ``offset(log(months))``) adds
        an offset. The fixed and random parts take what :func:`~attunement.trials.fit_lmm`
        takes (``||``, ``I()``, ``log()``, ``poly()``, ...).
    data : pandas.DataFrame
        One row per observation. Rows with a missing value in a column the model uses are
        left out (lme4's default) and counted in ``dropped``.
    family, link
        ``"binomial"`` (``"logit"`` default, ``"probit"``) or ``"poisson"`` (``"log"``).
    nagq
        1 (default) for the Laplace approximation, which takes any random-effects structure
        :func:`~attunement.trials.fit_lmm` takes; more than 1 for adaptive Gauss–Hermite
        quadrature with that many nodes, for a single scalar grouping factor only (as lme4).
    weights, offset
        A column name or an array with one value per row of ``data``. ``weights`` are glmer's
        prior weights: for a binomial proportion response the number of trials, for a
        Poisson response multipliers of each row's log-likelihood; each must be positive
        (a missing, zero or negative weight is an error naming the row).
    contrasts
        Coding of factors, as R's ``contrasts``: ``{"column": "sum" | "helmert" |
        "treatment"}`` (default treatment, first level as reference); it codes the factor in
        the fixed and the random terms alike (as setting ``contrasts(data$f)`` in R; lme4's
        ``contrasts =`` argument reaches the fixed terms only).

    Returns
    -------
    GLMMResult
        ``fixed`` (estimate, se, z, p, ci_lb, ci_ub), ``variance``, ``loglik``, ``vcov``.

    Examples
    --------
    On lme4's ``cbpp`` (``tests/reference/glmm_cbpp.csv``),
    ``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
    control = glmerControl(tolPwrss = 1e-12))`` gives period2 −0.9923327 (SE 0.3066422), herd
    variance 0.4124998 and logLik −92.02628 (lme4 1.1-31); with ``nAGQ = 25`` period2
    −0.9914037 (SE 0.3067679), herd variance 0.4192802 and logLik −91.98337 once the
    saturated log-likelihood that lme4 leaves out for nAGQ > 1 is added back (lme4 issue
    #161; lme4 prints −50.00502). lme4's default ``tolPwrss = 1e-7`` stops PIRLS with the
    Cholesky factor of the previous iterate, which moves its Laplace deviance by ~6e-4 here
    (period2 −0.9919238); the result here is the Laplace approximation at the conditional
    mode. ``tests/trials/test_glmm.py`` checks these and Bernoulli (crossed, and adaptive
    quadrature), probit, Poisson (nested, with an offset, random slope) fits against
    ``tests/reference/glmm_reference.json``: fixed effects to 1e-4, SEs and variances to
    1e-3 (relative), logLik to 1e-6.

    Weights and factors (``tests/trials/test_lme4_factors.py``): on R's UCBAdmissions,
    ``glmer(p_admitted ~ Gender + (1 | Dept), ucb, binomial, weights = applicants)`` gives
    GenderMale −0.094001 (SE 0.0807122) and logLik −62.86646, as ``fit_glmm("p_admitted ~
    Gender + (1 | Dept)", ucb, weights="applicants")``; on lme4's Arabidopsis,
    ``glmer(total.fruits ~ nutrient + amd + (0 + amd | popu) + (1 | gen), Arabidopsis,
    poisson)`` gives amdunclipped 0.1414536 (SE 0.0593552) with popu variances 0.2804
    (amdclipped) and 0.24764 (amdunclipped), logLik −10421.85489.
    """
    if not isinstance(nagq, int | np.integer) or isinstance(nagq, bool) or nagq < 1:
        raise ValueError(f"nagq must be a whole number ≥ 1, not {nagq!r}")
    if nagq > 100:
        raise ValueError(f"nagq must be at most 100 (lme4's limit), not {nagq}")
    model, names, dropped, link = _build(formula, data, family, link, weights, offset,
                                         contrasts)
    if nagq > 1 and not model.scalar:
        raise ValueError("adaptive Gauss-Hermite quadrature (nagq > 1) needs a single scalar "
                         "random-effects term such as (1 | family); use nagq=1 (Laplace)")
    x, converged, msg, H = _optimise(model, nagq)
    nt = model.ntheta
    theta, beta = x[:nt], x[nt:]
    dev = model.deviance(theta, beta, nagq)

    def f(v: np.ndarray) -> float:
        return model.deviance(v[:nt], v[nt:], nagq)

    # lme4's default SEs: the Hessian of the deviance in (θ, β), inverted (use.hessian = TRUE)
    singular = bool(np.any(np.abs(theta[model.lower == 0]) < 1e-7))
    try:
        vcov = 2.0 * np.linalg.inv(_hessian(f, x) if H is None else H)[nt:, nt:]
        if not np.all(np.diag(vcov) > 0):
            raise np.linalg.LinAlgError("not positive definite")
    except np.linalg.LinAlgError:
        # a flat direction in θ: condition on θ
        try:
            vcov = 2.0 * np.linalg.inv(_hessian(lambda b: model.deviance(theta, b, nagq), beta))
        except np.linalg.LinAlgError:
            vcov = np.full((len(beta), len(beta)), np.nan)
    model.deviance(theta, beta, nagq)  # leave the conditional modes at the optimum
    se = np.sqrt(np.where(np.diag(vcov) > 0, np.diag(vcov), np.nan))
    variance = pd.DataFrame(variance_rows(model.terms, theta), columns=mixed.VARIANCE_COLUMNS)
    z = beta / se
    fixed = pd.DataFrame({"term": names, "estimate": beta, "se": se, "z": z,
                          "p": 2 * stats.norm.sf(np.abs(z)),
                          "ci_lb": beta - stats.norm.ppf(0.975) * se,
                          "ci_ub": beta + stats.norm.ppf(0.975) * se})
    return GLMMResult(
        formula=formula, family=model.fam.family, link=link, nagq=int(nagq), nobs=model.n,
        fixed=fixed, variance=variance, loglik=-dev / 2, deviance=dev, theta=theta,
        vcov=pd.DataFrame(vcov, index=names, columns=names),
        ngroups={t.group: t.m for t in model.terms}, singular=singular, converged=converged,
        optimizer_message=msg, dropped=dropped, _model=model,
    )
