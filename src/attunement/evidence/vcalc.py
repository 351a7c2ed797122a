"""The sampling covariance matrix of correlated estimates, as metafor's ``vcalc``.

Two estimates from the same cluster (study, sample) that share no group of subjects' data
are still correlated when they come from the same subjects: measured on different outcomes
(``obs``, correlation ``rho``), of different types (``type``), or at different times (``time1``,
correlation ``phi`` to the power of the time difference, an AR(1) pattern). Within a cluster,

    r_ij = ρ_type(i, j) (different types) or ρ_obs(i, j) (same type, different outcomes) or 1
           × φ^|time_i − time_j|

and V_ij = r_ij √(v_i v_j); different clusters (or subgroups of a cluster) are independent
(metafor 3.8-1 ``vcalc`` without ``grp1``/``grp2``, so ``time2 = time1``; Pustejovsky & Tipton
2022, https://doi.org/10.1007/s11121-021-01246-3).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["vcalc"]


def _column(name: str, value: Any, data: pd.DataFrame | None, k: int | None) -> pd.Series:
    if isinstance(value, str) and data is not None:
        if value not in data.columns:
            raise ValueError(f"column {value!r} (for {name}) not found in the data")
        s = data[value].reset_index(drop=True)
    else:
        s = pd.Series(np.asarray(value).ravel())
    if k is not None and len(s) != k:
        raise ValueError(f"{name} has {len(s)} values; vi has {k}")
    miss = np.flatnonzero(s.isna().to_numpy())
    if miss.size:
        raise ValueError(f"{name} is missing in row(s) {', '.join(str(i + 1) for i in miss[:10])}")
    return s


def vcalc(vi: Any, cluster: Any, *, data: pd.DataFrame | None = None, subgroup: Any = None,
          obs: Any = None, type: Any = None, time1: Any = None, rho: Any = None,
          phi: float | None = None, checkpd: bool = True) -> np.ndarray:
    """The k × k sampling covariance matrix (metafor's ``vcalc``).

    Parameters
    ----------
    vi : array-like or str
        The sampling variances (or a column of ``data``).
    cluster : array-like or str
        The cluster (study) of each estimate; estimates in different clusters are independent.
    data : pandas.DataFrame, optional
        The data the column names refer to.
    subgroup : array-like or str, optional
        Independent subgroups within a cluster.
    obs, type : array-like or str, optional
        Which observation (e.g. outcome measure) and which type each estimate is.
    time1 : array-like or str, optional
        Time points, for an autocorrelated pattern (needs ``phi``).
    rho : float or tuple of float, optional
        The correlation between different ``obs`` (a number), or between different ``type``
        when only ``type`` is given; with both, ``(rho_obs, rho_type)``.
    phi : float, optional
        The autocorrelation over ``time1``.
    checkpd : bool, default True
        Check that each cluster's block is positive definite.

    Returns
    -------
    numpy.ndarray
        The k × k matrix, block-diagonal by cluster.

    Notes
    -----
    Without ``obs`` and ``type`` the estimates of a cluster are taken as perfectly correlated
    apart from the time pattern, as in metafor. R: ``vcalc(vi, cluster = study, obs = esid,
    rho = 0.6, data = dat.assink2016)`` and ``vcalc(vi, cluster = study, time1 = time,
    phi = 0.97, data = long)`` (``long``: the dat.ishak2007 rows by time) match
    ``tests/reference/rmamv_reference.json`` to 1e-12.

    Examples
    --------
    Two outcomes of one study correlated 0.6 (R: ``vcalc(c(0.04, 0.09), cluster = c(1, 1),
    obs = 1:2, rho = 0.6)``; by hand, the covariance is 0.6 · 0.2 · 0.3 = 0.036):

    >>> V = vcalc([0.04, 0.09], cluster=[1, 1], obs=[1, 2], rho=0.6)
    >>> round(float(V[0, 1]), 6), round(float(V[1, 1]), 6)
    (0.036, 0.09)
    """
    v = pd.to_numeric(_column("vi", vi, data, None), errors="coerce").to_numpy(dtype=float)
    k = v.size
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if bad.size:
        raise ValueError(f"vi must be non-negative numbers (row(s) "
                         f"{', '.join(str(i + 1) for i in bad[:10])})")
    cl = _column("cluster", cluster, data, k).astype(str)
    if subgroup is not None:
        cl = cl + "\x1f" + _column("subgroup", subgroup, data, k).astype(str)
    o = _column("obs", obs, data, k) if obs is not None else pd.Series(np.ones(k))
    ty = _column("type", type, data, k) if type is not None else pd.Series(np.ones(k))
    if rho is None and (obs is not None or type is not None):
        raise ValueError("rho is required with obs or type")
    if obs is not None and type is not None:
        try:
            rho_obs, rho_type = (float(r) for r in rho)
        except TypeError:
            raise ValueError("with obs and type, rho is a pair (rho_obs, rho_type)") from None
    elif obs is not None:
        rho_obs, rho_type = float(rho), 0.0
    elif type is not None:
        rho_obs, rho_type = 0.0, float(rho)
    else:
        rho_obs = rho_type = 0.0
    if max(abs(rho_obs), abs(rho_type)) > 1:
        raise ValueError("rho must be between -1 and 1")
    if time1 is not None:
        t = pd.to_numeric(_column("time1", time1, data, k), errors="coerce").to_numpy(float)
        if np.isnan(t).any():
            raise ValueError("time1 must be numeric (row "
                             f"{int(np.flatnonzero(np.isnan(t))[0]) + 1})")
        if phi is None:
            raise ValueError("phi is required with time1")
        if abs(phi) > 1:
            raise ValueError("phi must be between -1 and 1")
    else:
        t = np.ones(k)
        phi = 1.0
    same_cluster = cl.to_numpy()[:, None] == cl.to_numpy()[None, :]
    same_type = ty.to_numpy()[:, None] == ty.to_numpy()[None, :]
    same_obs = o.to_numpy()[:, None] == o.to_numpy()[None, :]
    R = np.where(same_type, np.where(same_obs, 1.0, rho_obs), rho_type)
    lag = np.abs(t[:, None] - t[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        R = R * np.where(lag == 0, 1.0, float(phi) ** lag)
    R = np.where(same_cluster, R, 0.0)
    np.fill_diagonal(R, 1.0)
    if checkpd:
        for label in pd.unique(cl):
            idx = np.flatnonzero(cl.to_numpy() == label)
            if idx.size > 1 and np.linalg.eigvalsh(R[np.ix_(idx, idx)]).min() <= np.finfo(
                    float).eps:
                warnings.warn(f"the var-cov matrix appears to be not positive definite in "
                              f"cluster {label.split(chr(31))[0]}", stacklevel=2)
    s = np.sqrt(v)
    return R * np.outer(s, s)
