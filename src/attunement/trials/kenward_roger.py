"""Kenward–Roger denominator degrees of freedom and adjusted covariance of the fixed effects.

Kenward & Roger (1997), *Biometrics* 53:983–997, as implemented in pbkrtest (Halekoh &
Højsgaard 2014, *J Stat Softw* 59(9)): ``vcovAdj`` and ``Lb_ddf``, which lmerTest's
``summary(model, ddf = "Kenward-Roger")`` and ``contest1D`` call. The marginal covariance is
written linearly in its parameters, V = Σᵣ γᵣ Gᵣ: one Gᵣ = Zₜ (I ⊗ Eᵢⱼ) Zₜᵀ for each variance and
covariance of each random-effects term (Eᵢⱼ the symmetric unit matrix of the pair) and I for
the residual variance. With Φ = (XᵀV⁻¹X)⁻¹, Pᵣ = −XᵀV⁻¹GᵣV⁻¹X, Qᵣₛ = XᵀV⁻¹GᵣV⁻¹GₛV⁻¹X and
W = 2·IE⁻¹ the inverse of the expected information of γ,

    IEᵣₛ = tr(V⁻¹GᵣV⁻¹Gₛ) − 2 tr(ΦQᵣₛ) + tr(ΦPᵣΦPₛ),
    Φ_A = Φ + 2Φ [Σᵣₛ Wᵣₛ (Qᵣₛ − PᵣΦPₛ)] Φ,

and for a hypothesis L β = 0 of rank q the df are 4 + (q + 2)/(qρ − 1) with ρ from the traces
A₁, A₂ of Θ Φ Pᵣ Φ (Θ = Lᵀ(LΦLᵀ)⁻¹L) as in ``Lb_ddf``. The structure is linear in γ, so the
second derivatives Rᵣₛ vanish (as pbkrtest assumes). V⁻¹ is formed (n × n, as in pbkrtest), but
the traces tr(V⁻¹GᵣV⁻¹Gₛ) are taken in the space of the q random effects through ZᵀV⁻¹Z and
ZᵀV⁻²Z, so no n × n matrix per parameter is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse

#: V⁻¹ is n × n (8·n² bytes; the other matrices are q × n or smaller)
MAX_ROWS = 8000


@dataclass
class KenwardRoger:
    """Φ (the REML covariance of β̂), Φ_A (the adjusted one), Pᵣ and W, for df of contrasts.

    Examples
    --------
    Three groups of four; R (lmerTest): ``summary(lmer(y ~ x + (1 | g), d), ddf =
    "Kenward-Roger")`` gives the intercept SE 0.58755733 on 2.040976 df and x on 8 df:

    >>> import pandas as pd
    >>> from attunement.trials import fit_lmm
    >>> d = pd.DataFrame({"y": [2.0, 3.1, 3.9, 5.2, 1.2, 2.0, 3.1, 3.9, -0.2, 1.2, 2.0, 3.1],
    ...                   "x": [0, 1, 2, 3] * 3, "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
    >>> fit = fit_lmm("y ~ x + (1 | g)", d, df_method="kenward-roger")
    >>> fit.fixed[["se", "df"]].astype(float).round(6).values.tolist()
    [[0.587557, 2.040976], [0.03937, 8.0]]
    """

    phi: np.ndarray
    phi_adjusted: np.ndarray
    P: list[np.ndarray]
    W: np.ndarray

    def df(self, L: np.ndarray) -> float:
        """Kenward–Roger denominator df for the hypothesis L β = 0 (pbkrtest's ``Lb_ddf``).

        Parameters
        ----------
        L
            A contrast vector (length p) or a q × p matrix of full row rank.

        Returns
        -------
        float
            The denominator degrees of freedom.
        """
        L = np.atleast_2d(np.asarray(L, float))
        phi = self.phi
        theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
        tphi = theta @ phi
        us = [tphi @ P @ phi for P in self.P]
        traces = np.array([np.trace(u) for u in us])
        n = len(us)
        A1 = A2 = 0.0
        for i in range(n):
            for j in range(i, n):
                e = 1.0 if i == j else 2.0
                A1 += e * self.W[i, j] * traces[i] * traces[j]
                A2 += e * self.W[i, j] * float(np.sum(us[i] * us[j].T))
        q = int(np.linalg.matrix_rank(L))
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        v0 = 1 + c1 * B
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        v1, v2 = 1 - c2 * B, 1 - c3 * B
        ratio = (1 - A2 / q) / v1 if abs(v1) > 1e-15 else 0.0  # pbkrtest's .divZero
        rho = ratio * ratio * v0 / (q * v2)
        return float(4 + (q + 2) / (q * rho - 1))


def _term_matrix(codes: np.ndarray, Z: np.ndarray, m: int) -> sparse.csr_matrix:
    """Zₜ as a sparse n × (m·k) matrix, columns level by level."""
    n, k = Z.shape
    rows = np.repeat(np.arange(n), k)
    cols = (codes[:, None] * k + np.arange(k)[None, :]).ravel()
    return sparse.csr_matrix((Z.ravel(), (rows, cols)), shape=(n, m * k))


def kenward_roger(X: np.ndarray, terms: list, covariances: list[np.ndarray],
                  sigma2: float) -> KenwardRoger:
    """Φ, Φ_A, Pᵣ and W of Kenward–Roger at the REML estimates (pbkrtest's ``vcovAdj``).

    Parameters
    ----------
    X
        The n × p fixed-effects matrix.
    terms
        The random-effects terms (``codes``, ``Z``, ``m``, ``k``).
    covariances
        Each term's k × k covariance matrix σ²ΛΛᵀ at the estimates.
    sigma2
        The residual variance.

    Returns
    -------
    KenwardRoger
        With ``phi_adjusted`` the adjusted covariance of β̂ and ``df(L)`` the df of a contrast.

    Examples
    --------
    At a fit's estimates (the fit of :class:`KenwardRoger`'s example, lmerTest's values):

    >>> import numpy as np
    >>> import pandas as pd
    >>> from attunement.trials import fit_lmm
    >>> from attunement.trials.formula import parse_formula
    >>> from attunement.trials.mixed import design_matrices
    >>> rows = pd.DataFrame({"y": [2.0, 3.1, 3.9, 5.2, 1.2, 2.0, 3.1, 3.9, -0.2, 1.2, 2.0, 3.1],
    ...                      "x": [0, 1, 2, 3] * 3, "g": list("aaaabbbbcccc")})
    >>> vc = fit_lmm("y ~ x + (1 | g)", rows).variance_components()
    >>> X, _, terms = design_matrices(parse_formula("y ~ x + (1 | g)"), rows, "lm()", 100)
    >>> kr = kenward_roger(X, terms, [np.array([[vc["g"]]])], vc["residual"])
    >>> round(kr.df(np.array([1.0, 0.0])), 6), round(float(np.sqrt(kr.phi_adjusted[0, 0])), 6)
    (2.040976, 0.587557)
    """
    n, p = X.shape
    if n > MAX_ROWS:
        raise ValueError(f"Kenward-Roger df need n x n matrices; {n} rows is more than "
                         f"{MAX_ROWS}: use df_method='satterthwaite'")
    V = sigma2 * np.eye(n)
    mats, rows, off = [], [], 0
    for t, cov in zip(terms, covariances, strict=True):
        Zs = _term_matrix(t.codes, t.Z, t.m)
        V += (Zs @ sparse.kron(sparse.identity(t.m), sparse.csr_matrix(cov)) @ Zs.T).toarray()
        mats.append(Zs)
        rows.append(slice(off, off + t.m * t.k))
        off += t.m * t.k
    Vinv = linalg.cho_solve(linalg.cho_factor(V, lower=True), np.eye(n))
    Z = sparse.hstack(mats).tocsr()
    ZV = np.asarray(Z.T @ Vinv)            # ZᵀV⁻¹ (q × n)
    M = np.asarray(Z.T @ ZV.T).T           # ZᵀV⁻¹Z
    N = ZV @ ZV.T                            # ZᵀV⁻²Z
    T = Vinv @ X
    phi = np.linalg.inv(X.T @ T)
    ZVX = ZV @ X
    # one entry per γ: the term's rows and Dᵣ = I ⊗ Eᵢⱼ, so that Gᵣ = Zₜ Dᵣ Zₜᵀ
    params = []
    for t, Zs, r in zip(terms, mats, rows, strict=True):
        for j in range(t.k):
            for i in range(j, t.k):
                E = np.zeros((t.k, t.k))
                E[i, j] = E[j, i] = 1.0
                D = sparse.kron(sparse.identity(t.m), sparse.csr_matrix(E)).tocsr()
                params.append((Zs, r, D, np.asarray(D @ M[r, :])))
    HX = [np.asarray(Zs @ (D @ ZVX[r])) for Zs, r, D, _ in params] + [T]   # Gᵣ V⁻¹ X
    VHX = [Vinv @ o for o in HX]
    P = [-(o.T @ T) for o in HX]
    P = [(m + m.T) / 2 for m in P]
    nr = len(HX)

    def ktrace(i: int, j: int) -> float:
        """tr(V⁻¹GᵢV⁻¹Gⱼ) in the space of the random effects (the residual's G is I)."""
        if i == nr - 1 and j == nr - 1:
            return float(np.sum(Vinv * Vinv))
        if j == nr - 1:
            _, r, D, _ = params[i]
            return float(D.multiply(N[r, r]).sum())
        _, ri, _, DMi = params[i]
        _, rj, _, DMj = params[j]
        return float(np.sum(DMi[:, rj] * DMj[:, ri].T))

    Q = {}
    IE = np.zeros((nr, nr))
    for i in range(nr):
        for j in range(i, nr):
            Q[i, j] = HX[i].T @ VHX[j]
            IE[i, j] = IE[j, i] = (ktrace(i, j) - 2 * float(np.sum(phi * Q[i, j]))
                                   + float(np.sum((phi @ P[i]) * (P[j] @ phi))))
    cond = np.min(np.abs(np.linalg.eigvalsh(IE)))
    W = 2 * (np.linalg.inv(IE) if cond > 1e-10 else np.linalg.pinv(IE))
    W = (W + W.T) / 2
    U = np.zeros((p, p))
    for i in range(nr - 1):
        for j in range(i + 1, nr):
            U += W[i, j] * (Q[i, j] - P[i] @ phi @ P[j])
    U = U + U.T
    for i in range(nr):
        U += W[i, i] * (Q[i, i] - P[i] @ phi @ P[i])
    phi_a = phi + 2 * phi @ U @ phi
    return KenwardRoger(phi=phi, phi_adjusted=phi_a, P=P, W=W)
