"""The penalised Hessian ΛᵀZᵀWZΛ + I of a GLMM's PIRLS step, factorised in two blocks.

The random-effects term with the most levels comes first (lme4's order); its block is
block-diagonal, one k₁ × k₁ matrix per level, so it is factorised level by level in one
vectorised call, and only the Schur complement of the remaining terms (q₂ × q₂) is dense, as in
:class:`attunement.trials.lmm._Model` and MixedModels.jl. A nested or crossed design with an
observation-, family- or participant-level term costs O(m₁k₁³ + m₁k₁q₂² + q₂³) per step instead
of O(q³) for the dense matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack


class BlockFactor:
    """Cholesky factor of ΛᵀZᵀWZΛ + I for the non-zero pattern ``cols`` (n × K positions of
    ZΛ's non-zeros; the first ``k1`` belong to the first term, whose levels come first).

    Examples
    --------
    Three observations: a first term with two levels and one effect each, a second term with
    one effect (q = 3). The factor and the solve agree with the dense computation:

    >>> import numpy as np
    >>> blocks = BlockFactor(np.array([[0, 2], [0, 2], [1, 2]]), k1=1, m1=2, q=3)
    >>> diag = blocks.factor(np.ones((3, 2)), np.ones(3))
    >>> Z = np.array([[1.0, 0, 1], [1, 0, 1], [0, 1, 1]])
    >>> A = Z.T @ Z + np.eye(3)
    >>> bool(np.allclose(diag, np.diag(np.linalg.cholesky(A))))
    True
    >>> g = np.array([1.0, 2.0, 3.0])
    >>> bool(np.allclose(blocks.solve(g), np.linalg.solve(A, g)))
    True
    """

    def __init__(self, cols: np.ndarray, k1: int, m1: int, q: int) -> None:
        self.k1, self.m1, self.q1 = k1, m1, m1 * k1
        self.q2 = q - self.q1
        n = cols.shape[0]
        lev = cols[:, 0] // k1
        ii, jj = np.meshgrid(np.arange(k1), np.arange(k1), indexing="ij")
        self.i11 = (lev[:, None, None] * k1 * k1 + ii * k1 + jj).reshape(n, -1)
        rest = cols[:, k1:] - self.q1  # (n, K2)
        q2 = self.q2
        self.i12 = (lev[:, None, None] * k1 * q2 + np.arange(k1)[None, :, None] * q2
                    + rest[:, None, :]).reshape(n, -1)
        self.i22 = (rest[:, :, None] * q2 + rest[:, None, :]).reshape(n, -1)

    def factor(self, vals: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Factorise at ZΛ's values and the PIRLS weights.

        Parameters
        ----------
        vals : numpy.ndarray
            The n × K non-zero values of ZΛ.
        W : numpy.ndarray
            One weight per observation.

        Returns
        -------
        numpy.ndarray
            The diagonal of the Cholesky factor (first term's levels, then the rest).
        """
        k1, m1, q2 = self.k1, self.m1, self.q2
        v1, v2 = vals[:, :k1], vals[:, k1:]
        w1 = W[:, None] * v1
        a11 = np.bincount(self.i11.ravel(), (w1[:, :, None] * v1[:, None, :]).ravel(),
                          m1 * k1 * k1).reshape(m1, k1, k1)
        a11 += np.eye(k1)
        if k1 == 1:
            self.L11 = np.sqrt(a11)
            self.L11inv = 1.0 / self.L11
        else:
            self.L11 = np.linalg.cholesky(a11)
            # one batched inverse of the small triangular blocks: later solves are matmuls
            self.L11inv = np.linalg.inv(self.L11)
        d1 = np.diagonal(self.L11, axis1=1, axis2=2).ravel()
        if q2 == 0:
            self.F = np.zeros((m1, k1, 0))
            self.L22 = np.zeros((0, 0))
            return d1
        a12 = np.bincount(self.i12.ravel(), (w1[:, :, None] * v2[:, None, :]).ravel(),
                          m1 * k1 * q2).reshape(m1, k1, q2)
        a22 = np.bincount(self.i22.ravel(), ((W[:, None] * v2)[:, :, None]
                                             * v2[:, None, :]).ravel(), q2 * q2).reshape(q2, q2)
        a22[np.diag_indices(q2)] += 1.0
        self.F = a12 * self.L11inv if k1 == 1 else self.L11inv @ a12
        F2 = self.F.reshape(m1 * k1, q2)
        # LAPACK directly: scipy.linalg's checks cost more than the factorisation at this size
        self.L22, info = lapack.dpotrf(a22 - F2.T @ F2, lower=1, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement is not positive definite")
        return np.concatenate([d1, np.diag(self.L22)])

    def solve(self, g: np.ndarray) -> np.ndarray:
        """(ΛᵀZᵀWZΛ + I)⁻¹ g with the last factor.

        Parameters
        ----------
        g : numpy.ndarray
            A vector of length q, or a q × r matrix.

        Returns
        -------
        numpy.ndarray
            The solution, shaped as ``g``.
        """
        k1, m1, q1 = self.k1, self.m1, self.q1
        G = g.reshape(g.shape[0], -1)
        r = G.shape[1]
        g1 = G[:q1].reshape(m1, k1, r)
        y1 = g1 * self.L11inv if k1 == 1 else self.L11inv @ g1
        F2 = self.F.reshape(q1, self.q2)
        if self.q2 == 0:
            x2 = np.zeros((0, r))
        else:
            r2 = G[q1:] - F2.T @ y1.reshape(q1, r)
            x2, _ = lapack.dpotrs(self.L22, r2, lower=1)
        r1 = (y1.reshape(q1, r) - F2 @ x2).reshape(m1, k1, r)
        x1 = r1 * self.L11inv if k1 == 1 else np.swapaxes(self.L11inv, 1, 2) @ r1
        return np.concatenate([x1.reshape(q1, r), x2]).reshape(g.shape)
