"""The likelihood of an ``rma.mv`` model and its optimiser (used by ``multilevel``).

The random-effects structures (:class:`_GTerm`), the block-diagonal marginal covariance and the
(restricted) log-likelihood with its gradient (:class:`_Engine`), and the optimisation of the
variance components (:func:`_optimise`). The model and its sources are described in
``attunement.evidence.multilevel``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

_LOG2PI = math.log(2 * math.pi)
_RHO_MAX = 1.0


# --------------------------------------------------------------------------------- structures
class _GTerm:
    """One ``~ inner | outer`` term: the covariance G of the inner levels and its derivatives."""

    def __init__(self, struct: str, inner_name: str, outer_name: str, inner_codes: np.ndarray,
                 levels: list[str], outer_codes: np.ndarray, n_outer: int) -> None:
        self.struct, self.inner_name, self.outer_name = struct, inner_name, outer_name
        self.inner, self.levels, self.outer, self.n_outer = inner_codes, levels, outer_codes, n_outer
        m = self.m = len(levels)
        self.n_tau = m if struct in {"HCS", "UN", "DIAG"} else 1
        self.n_rho = {"UN": m * (m - 1) // 2, "ID": 0, "DIAG": 0}.get(struct, 1)
        if m == 1:
            self.n_rho = 0
        # UN correlations in R's order: the lower triangle column by column
        self.pairs = [(i, j) for j in range(m) for i in range(j + 1, m)]
        lag = np.abs(np.subtract.outer(np.arange(m), np.arange(m)))
        self.lag = lag

    @property
    def n_par(self) -> int:
        return self.n_tau + self.n_rho

    def corr(self, rho: np.ndarray) -> np.ndarray:
        m = self.m
        if self.n_rho == 0:
            return np.eye(m)
        if self.struct in {"CS", "HCS"}:
            return np.full((m, m), rho[0]) + (1 - rho[0]) * np.eye(m)
        if self.struct == "AR":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(self.lag == 0, 1.0, float(rho[0]) ** self.lag)
        R = np.eye(m)
        for r, (i, j) in zip(rho, self.pairs, strict=True):
            R[i, j] = R[j, i] = r
        return R

    def G(self, par: np.ndarray) -> np.ndarray:
        tau2, rho = par[: self.n_tau], par[self.n_tau:]
        sd = np.sqrt(np.broadcast_to(tau2, (self.m,)))
        return self.corr(rho) * np.outer(sd, sd)

    def dG(self, par: np.ndarray) -> list[np.ndarray]:
        """∂G/∂parameter for each of tau2..., rho...."""
        m = self.m
        tau2, rho = par[: self.n_tau], par[self.n_tau:]
        R = self.corr(rho)
        t = np.broadcast_to(tau2, (m,)).astype(float)
        sd = np.sqrt(t)
        out: list[np.ndarray] = []
        if self.n_tau == 1:
            out.append(R.copy())
        else:
            for i in range(m):
                d = np.zeros((m, m))
                # ∂(R_ij sd_i sd_j)/∂t_i = R_ij sd_j / (2 sd_i); the diagonal is 1
                d[i, :] = R[i, :] * sd / (2 * max(sd[i], 1e-12))
                d[:, i] = d[i, :]
                d[i, i] = 1.0
                out.append(d)
        S = np.outer(sd, sd)
        if self.n_rho == 0:
            return out
        if self.struct in {"CS", "HCS"}:
            out.append((1 - np.eye(m)) * S)
        elif self.struct == "AR":
            r = float(rho[0])
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(self.lag == 0, 0.0,
                             np.where(self.lag == 1, 1.0, self.lag * r ** (self.lag - 1)))
            out.append(d * S)
        else:
            for i, j in self.pairs:
                d = np.zeros((m, m))
                d[i, j] = d[j, i] = S[i, j]
                out.append(d)
        return out

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(0.0, None)] * self.n_tau + [(-_RHO_MAX, _RHO_MAX)] * self.n_rho


# ---------------------------------------------------------------------------------- the engine
class _Engine:
    """(Restricted) log-likelihood and its gradient over the variance parameters."""

    def __init__(self, y: np.ndarray, V: np.ndarray, X: np.ndarray,
                 s_codes: list[np.ndarray], g_terms: list[_GTerm], reml: bool) -> None:
        self.y, self.X, self.reml = y, X, reml
        self.k, self.p = X.shape
        self.s_codes, self.g_terms = s_codes, g_terms
        self.n_s = len(s_codes)
        self.n_par = self.n_s + sum(g.n_par for g in g_terms)
        self.logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])
        full = V.ndim == 2
        self.labels = _components(self.k, V if full else None,
                                  s_codes + [g.outer for g in g_terms])
        order = np.argsort(self.labels, kind="stable")
        sizes = np.bincount(self.labels)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        members = [order[starts[c]:starts[c + 1]] for c in range(sizes.size)]
        self.groups: list[dict[str, Any]] = []
        for s in np.unique(sizes):
            idx = np.stack([members[c] for c in np.flatnonzero(sizes == s)])  # (nb, s)
            ii, jj = idx[:, :, None], idx[:, None, :]
            Vb = V[ii, jj] if full else (np.eye(s)[None] * V[idx][:, :, None])
            grp = {"idx": idx, "V": Vb, "X": X[idx], "y": y[idx],
                   "S": [(c[ii] == c[jj]).astype(float) for c in s_codes],
                   "E": [(g.outer[ii] == g.outer[jj]).astype(float) for g in g_terms],
                   "inner": [(g.inner[idx]) for g in g_terms]}
            self.groups.append(grp)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        s2 = theta[: self.n_s]
        pars, pos = [], self.n_s
        for g in self.g_terms:
            pars.append(theta[pos:pos + g.n_par])
            pos += g.n_par
        return s2, pars

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = [(0.0, None)] * self.n_s
        for g in self.g_terms:
            out += g.bounds()
        return out

    def feasible(self, theta: np.ndarray) -> bool:
        """An unstructured G must be a covariance matrix (positive semi-definite): its
        correlations are free, unlike those of the other structures."""
        _, pars = self.split(theta)
        for g, par in zip(self.g_terms, pars, strict=True):
            if g.struct == "UN" and g.m > 2:
                R = g.corr(par[g.n_tau:])
                if np.linalg.eigvalsh(R).min() < -1e-12:
                    return False
        return True

    def _blocks(self, theta: np.ndarray, with_d: bool):
        s2, pars = self.split(theta)
        Gs = [g.G(p) for g, p in zip(self.g_terms, pars, strict=True)]
        dGs = [g.dG(p) for g, p in zip(self.g_terms, pars, strict=True)] if with_d else []
        for grp in self.groups:
            M = grp["V"].copy()
            for s, S in zip(s2, grp["S"], strict=True):
                M += s * S
            D: list[np.ndarray] = list(grp["S"]) if with_d else []
            for t, (G, E, inner) in enumerate(zip(Gs, grp["E"], grp["inner"], strict=True)):
                sel = (inner[:, :, None], inner[:, None, :])
                M += E * G[sel]
                if with_d:
                    D.extend(E * dG[sel] for dG in dGs[t])
            yield grp, M, D

    def evaluate(self, theta: np.ndarray, grad: bool = True) -> dict[str, Any] | None:
        """Log-likelihoods, β, its covariance and (optionally) the gradient; None if M is not
        positive definite at ``theta``."""
        if not self.feasible(theta):
            return None
        p = self.p
        XtWX = np.zeros((p, p))
        XtWy = np.zeros(p)
        logdet = 0.0
        cache = []
        for grp, M, D in self._blocks(theta, grad):
            try:
                L = np.linalg.cholesky(M)
            except np.linalg.LinAlgError:
                return None
            logdet += 2 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
            W = np.linalg.inv(M)
            WX = W @ grp["X"]
            XtWX += np.einsum("bsp,bsq->pq", grp["X"], WX)
            XtWy += np.einsum("bsp,bs->p", WX, grp["y"])
            cache.append((grp, W, WX, D))
        try:
            vb = np.linalg.inv(XtWX)
        except np.linalg.LinAlgError:
            return None
        vb = (vb + vb.T) / 2
        beta = vb @ XtWy
        rss = 0.0
        g = np.zeros(self.n_par) if grad else None
        for grp, W, WX, D in cache:
            r = grp["y"] - grp["X"] @ beta
            Wr = np.einsum("bst,bt->bs", W, r)
            rss += float(np.sum(r * Wr))
            if grad:
                for a, Da in enumerate(D):
                    quad = np.einsum("bs,bst,bt->", Wr, Da, Wr)
                    tr = np.einsum("bst,bts->", W, Da)
                    if self.reml:
                        tr -= float(np.sum(vb * np.einsum("bsp,bst,btq->pq", WX, Da, WX)))
                    g[a] += 0.5 * (quad - tr)  # type: ignore[index]
        ld_xwx = float(np.linalg.slogdet(XtWX)[1])
        ll_ml = -0.5 * (self.k * _LOG2PI + logdet + rss)
        ll_reml = -0.5 * ((self.k - p) * _LOG2PI - self.logdet_xtx + logdet + ld_xwx + rss)
        return {"beta": beta, "vb": vb, "ll_ml": ll_ml, "ll_reml": ll_reml, "grad": g,
                "ll": ll_reml if self.reml else ll_ml}

    def marginal_blocks(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(row indices, M block) for every group of connected estimates."""
        out = []
        for grp, M, _ in self._blocks(theta, False):
            out.extend(zip(grp["idx"], M, strict=True))
        return out


def _components(k: int, V: np.ndarray | None, codes: list[np.ndarray]) -> np.ndarray:
    """Label the groups of estimates linked by V or by sharing a level of a random term."""
    rows, cols = [np.arange(k)], [np.arange(k)]
    offset = k
    for c in codes:
        rows.append(np.arange(k))
        cols.append(offset + c)
        offset += int(c.max()) + 1 if c.size else 0
    if V is not None:
        i, j = np.nonzero(V)
        rows.append(i)
        cols.append(j)
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size), (r, c)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    return pd.factorize(labels[:k])[0]


def _optimise(engine: _Engine, start: np.ndarray, fixed: dict[int, float] | None = None
              ) -> np.ndarray:
    """Maximise the (restricted) likelihood: L-BFGS-B with the analytic gradient, then Newton
    steps on the interior parameters (Hessian by differences of the gradient) to reach the
    optimum to near machine precision."""
    fixed = fixed or {}
    free = np.array([i for i in range(engine.n_par) if i not in fixed], dtype=int)
    bounds = [engine.bounds()[i] for i in free]
    theta = np.asarray(start, dtype=float).copy()
    for i, v in fixed.items():
        theta[i] = v

    def full(x: np.ndarray) -> np.ndarray:
        t = theta.copy()
        t[free] = x
        return t

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        out = engine.evaluate(full(x))
        if out is None:
            return 1e100, np.zeros(free.size)
        return -out["ll"], -out["grad"][free]

    if free.size == 0:
        return theta
    x = np.clip(theta[free], [b[0] if b[0] is not None else -np.inf for b in bounds],
                [b[1] if b[1] is not None else np.inf for b in bounds])
    res = minimize(fun, x, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000, "maxcor": 30})
    x = res.x
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    hi = np.array([b[1] if b[1] is not None else np.inf for b in bounds])
    for _ in range(50):
        f0, g0 = fun(x)
        inner = (x > lo + 1e-10) & (x < hi - 1e-10)
        if not inner.any():
            break
        ii = np.flatnonzero(inner)
        H = np.empty((ii.size, ii.size))
        for a, i in enumerate(ii):
            h = 1e-5 * max(abs(x[i]), 1e-3)
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] -= h
            H[:, a] = (fun(xp)[1][ii] - fun(xm)[1][ii]) / (2 * h)
        H = (H + H.T) / 2
        try:
            step = -np.linalg.solve(H, g0[ii])
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        t = 1.0
        improved = False
        while t > 1e-6:
            xn = x.copy()
            xn[ii] = np.clip(x[ii] + t * step, lo[ii], hi[ii])
            fn, gn = fun(xn)
            if fn <= f0 + 1e-15 * abs(f0) and np.linalg.norm(gn[ii]) <= np.linalg.norm(g0[ii]):
                improved = True
                break
            t /= 2
        if not improved:
            break
        delta = np.max(np.abs(xn - x) / np.maximum(np.abs(x), 1e-8))
        x = xn
        if delta < 1e-12:
            break
    return full(x)
