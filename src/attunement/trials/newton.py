"""Newton steps with numerical derivatives: how the mixed models polish an optimum.

After the optimiser stops, ``fit_lmm`` and ``fit_glmm`` take Newton steps on the deviance with
central-difference derivatives, each step made a descent direction and halved until the
deviance does not increase.
"""

from __future__ import annotations

import numpy as np

__all__ = ["backtrack", "central_derivatives", "newton_direction"]


def central_derivatives(f, x: np.ndarray, hs: np.ndarray,
                        fx: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        A function of a vector.
    x : numpy.ndarray
        Where to differentiate.
    hs : numpy.ndarray
        A step per coordinate.
    fx : float, optional
        f(x) when known.

    Returns
    -------
    gradient, hessian : numpy.ndarray
        First and second derivatives.

    Examples
    --------
    >>> import numpy as np
    >>> g, H = central_derivatives(lambda v: float(v @ v), np.array([1.0, 2.0]), np.full(2, 1e-3))
    >>> g.round(6).tolist(), H.round(4).tolist()
    ([2.0, 4.0], [[2.0, 0.0], [0.0, 2.0]])
    """
    k = len(x)
    f0 = f(x) if fx is None else fx
    g = np.zeros(k)
    H = np.zeros((k, k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = hs[i]
        fp, fm = f(x + ei), f(x - ei)
        g[i] = (fp - fm) / (2 * hs[i])
        H[i, i] = (fp - 2 * f0 + fm) / hs[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = hs[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * hs[i] * hs[j])
    return g, H


def newton_direction(g: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Newton step −H⁻¹g with H's eigenvalues made positive (a descent direction).

    Parameters
    ----------
    g, H : numpy.ndarray
        Gradient and Hessian.

    Returns
    -------
    numpy.ndarray
        The step.

    Examples
    --------
    >>> import numpy as np
    >>> newton_direction(np.array([2.0, 4.0]), np.diag([2.0, -2.0])).tolist()
    [-1.0, -2.0]
    """
    w, V = np.linalg.eigh(H)
    w = np.maximum(np.abs(w), 1e-8 * max(1.0, np.abs(w).max()))
    return -(V @ ((V.T @ g) / w))


def backtrack(f, x: np.ndarray, step: np.ndarray, fx: float) -> tuple[np.ndarray, float, bool]:
    """Halve the step (up to 30 times) until ``f`` does not increase.

    Parameters
    ----------
    f : callable
        The function minimised.
    x, step : numpy.ndarray
        Where from, and the full step.
    fx : float
        f(x).

    Returns
    -------
    tuple of (numpy.ndarray, float, bool)
        The new point, f there, and whether a step was taken.

    Examples
    --------
    >>> import numpy as np
    >>> backtrack(lambda v: float(v @ v), np.array([1.0]), np.array([-4.0]), 1.0)
    (array([-1.]), 1.0, True)
    """
    alpha = 1.0
    for _ in range(30):
        cand = x + alpha * step
        fc = f(cand)
        if fc <= fx:
            return cand, fc, True
        alpha /= 2
    return x, fx, False
