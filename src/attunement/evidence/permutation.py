"""Permutation tests for rma fits (metafor's ``permutest.rma.uni``).

Intercept-only models flip the signs of the effect sizes; meta-regressions permute the rows of
the design matrix against the effect sizes. The test is exact (every sign pattern or every
distinct arrangement of the rows) when that needs no more than ``iter`` fits or when
``exact=True``; otherwise ``iter`` random permutations are drawn with ``seed`` and the first is
the observed data, as in metafor (Viechtbauer et al. 2015, Psychological Methods 20:360-374).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from attunement.evidence.rma_result import RMAFit

#: metafor's ``comptol`` (``.Machine$double.eps^0.5``): ties with the observed statistic count.
COMPTOL = float(np.finfo(float).eps ** 0.5)
#: more fits than this are refused for an exact test (R would try, and run for days)
EXACT_CAP = 1_000_000


@dataclass
class PermutestResult:
    """p-values of a permutation test: ``pval`` per coefficient and ``QMp`` for the omnibus test.

    Made by :func:`permutest`; ``beta_perm``, ``zval_perm`` and ``QM_perm`` hold the statistics
    of every permuted fit.

    Examples
    --------
    An exact test of a meta-regression on eight studies enumerates the 56 distinct
    arrangements of their setting labels (:func:`exact_count`):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> reg = rma(dat_raudenbush1985().iloc[6:14], mods="~ setting")
    >>> perm = permutest(reg, exact=True)
    >>> perm.exact, perm.iter, list(perm.table())
    (True, 56, ['intrcpt', 'setting[indiv]'])
    """

    pval: np.ndarray
    QMp: float
    QM: float
    coef_names: list[str]
    exact: bool
    iter: int
    seed: int | None
    beta_perm: np.ndarray
    zval_perm: np.ndarray
    QM_perm: np.ndarray

    def table(self) -> dict[str, float]:
        """Permutation p-value per coefficient name.

        Returns
        -------
        dict of str to float
            The coefficient's name and its p-value, in the model's order.
        """
        return dict(zip(self.coef_names, (float(p) for p in self.pval), strict=True))


def _multiset_permutations(labels: np.ndarray) -> Iterator[np.ndarray]:
    """Every distinct ordering of ``labels`` (lexicographic next-permutation)."""
    a = np.sort(labels).tolist()
    n = len(a)
    while True:
        yield np.asarray(a)
        i = n - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            return
        j = n - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1:] = reversed(a[i + 1:])


def _row_groups(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows of X: (label per row, one representative row per label)."""
    uniq, labels = np.unique(X, axis=0, return_inverse=True)
    return labels.ravel(), uniq


def exact_count(fit: RMAFit) -> int:
    """Number of fits an exact test needs (2^k sign flips, or distinct row arrangements).

    Parameters
    ----------
    fit : RMAResult
        The model to be tested.

    Returns
    -------
    int
        2^k for a model without moderators, else k! over the product of the factorials of
        the counts of identical moderator rows.

    Examples
    --------
    Eight studies, three of them individual-setting: 8!/(3! 5!) = 56 arrangements; without
    moderators 2^8 = 256 sign flips:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> eight = dat_raudenbush1985().iloc[6:14]
    >>> exact_count(rma(eight, mods="~ setting")), exact_count(rma(eight))
    (56, 256)
    """
    if fit.int_only:
        return 2 ** fit.k
    labels, _ = _row_groups(fit.X)
    counts = np.bincount(labels)
    n = math.factorial(fit.k)
    for c in counts:
        n //= math.factorial(int(c))
    return n


def permutest(fit: RMAFit, *, iter: int = 1000, exact: bool = False,
              seed: int | None = None) -> PermutestResult:
    """Permutation p-values for each coefficient (|z| or |t|) and for QM, as metafor
    (Follmann & Proschan 1999, https://doi.org/10.1111/j.0006-341X.1999.00732.x).

    Parameters
    ----------
    fit : RMAResult
        A fit without user weights.
    iter : int, default 1000
        Random permutations (sign flips for a model without moderators).
    exact : bool, default False
        Enumerate every permutation (also done when there are no more than ``iter``).
    seed : int, optional
        Seed of the random permutations.

    Returns
    -------
    PermutestResult
        ``pval`` per coefficient, ``QMp``, and the permutation distributions.

    Examples
    --------
    R: ``permutest(rma(yi, vi, data = dat.raudenbush1985[1:9, ]), exact = TRUE)`` gives
    pval = QMp = 0.65234375 (334 of the 512 sign flips); ``permutest(fit, exact=True)``
    matches it exactly (``tests/evidence/test_evidence_more.py``):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> res = permutest(rma(dat_raudenbush1985().iloc[:9]), exact=True)
    >>> float(res.QMp), res.iter
    (0.65234375, 512)
    """
    if iter < 2:
        raise ValueError(f"iter must be at least 2, not {iter}")
    if fit.weights is not None:
        raise ValueError("permutest: fits with user weights are not supported")
    n_exact = exact_count(fit)
    is_exact = exact or n_exact <= iter
    if is_exact and n_exact > EXACT_CAP:
        raise ValueError(
            f"an exact permutation test needs {n_exact} fits (more than {EXACT_CAP}); "
            "use exact=False with iter and seed")
    tau2_value = fit.tau2 if fit.tau2_fixed else None

    def refit(y: np.ndarray, X: np.ndarray):
        btt = [0] if fit.int_only else fit.btt
        try:
            r = fit.refit_on(y, fit.vi, X, fit.coef_names, fit.int_incl, method=fit.method,
                             test=fit.test, weights=None, level=fit.level,
                             tau2_value=tau2_value, control=fit.control, btt=btt, slab=None,
                             skip_r2=True, light=True)
        except (ValueError, np.linalg.LinAlgError):  # metafor skips fits that fail
            return None
        return r.beta, r.zval, r.QM

    rng = None if is_exact else np.random.default_rng(seed)
    if fit.int_only:
        if is_exact:
            draws: Iterator[tuple[np.ndarray, np.ndarray]] = (
                (np.asarray(s) * fit.yi, fit.X)
                for s in itertools.product((1.0, -1.0), repeat=fit.k))
        else:
            draws = ((rng.choice((-1.0, 1.0), fit.k) * fit.yi, fit.X) for _ in range(iter))
    else:
        labels, uniq = _row_groups(fit.X)
        if is_exact:
            draws = ((fit.yi, uniq[perm]) for perm in _multiset_permutations(labels))
        else:
            draws = ((fit.yi, fit.X[rng.permutation(fit.k)]) for _ in range(iter))
    n = n_exact if is_exact else iter
    beta_perm = np.full((n, fit.p), np.nan)
    zval_perm = np.full((n, fit.p), np.nan)
    QM_perm = np.full(n, np.nan)
    with warnings.catch_warnings():
        # a permuted fit may hit tau^2 = 0 or an iteration limit; metafor silences these too
        warnings.simplefilter("ignore")
        for i, (y, X) in enumerate(draws):
            if not is_exact and i == 0:
                beta_perm[0], zval_perm[0], QM_perm[0] = fit.beta, fit.zval, fit.QM
                continue
            out = refit(y, X)
            if out is not None:
                beta_perm[i], zval_perm[i], QM_perm[i] = out
    ok = ~np.isnan(QM_perm)
    pval = np.mean(np.abs(zval_perm[ok]) >= np.abs(fit.zval) - COMPTOL, axis=0)
    QMp = float(np.mean(QM_perm[ok] >= fit.QM - COMPTOL))
    return PermutestResult(pval=np.minimum(pval, 1.0), QMp=QMp, QM=fit.QM,
                           coef_names=list(fit.coef_names), exact=is_exact, iter=n,
                           seed=None if is_exact else seed, beta_perm=beta_perm,
                           zval_perm=zval_perm, QM_perm=QM_perm)
