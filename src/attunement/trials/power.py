"""Power by simulation for multicentre, longitudinal, individually randomised trials.

A :class:`TrialDesign` (:mod:`attunement.trials.power_design`) describes the trial: arms,
families per arm randomised within centres, centres, waves, the outcome (continuous, binary or
count), attrition, the effect and an optional subgroup. Each simulated trial is analysed as the
trial will be: a linear mixed model by REML with between-within df for a continuous outcome, GEE
(or, with ``analysis="glmm"``, the logistic GLMM) for a binary one, the Poisson GLMM for counts
(:mod:`attunement.trials.power_fit`, :mod:`attunement.trials.glmm_power`).

Power is the share of simulations with p < alpha, with a Clopper–Pearson interval (as simr).
``run_power(..., scheduler="tcp://host:8786")`` runs the chunks on a Dask distributed cluster;
the chunk seeds come from one :class:`numpy.random.SeedSequence`, so the result is the same
wherever the chunks run. :func:`closed_form_power` gives the design-effect approximation.
"""


from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from attunement._blas import bounded_blas
from attunement.trials.power_design import (
    TrialDesign,
    TrialDesignError,
    _draw,
    _layout,
    simulate_trial,
)
from attunement.trials.power_fit import _analyse_binary, _analyse_continuous

__all__ = [
    "PowerResult",
    "TrialDesign",
    "TrialDesignError",
    "closed_form_power",
    "power_curve",
    "run_power",
    "simulate_trial",
]


@bounded_blas
def _run_chunk(design_dict: dict[str, Any], sims: int, entropy: tuple) -> dict[str, np.ndarray]:
    design = TrialDesign.from_dict(design_dict)
    layout = _layout(design)
    rng = np.random.default_rng(np.random.SeedSequence(entropy[0], spawn_key=entropy[1]))
    sim = _draw(layout, sims, rng)
    if design.outcome == "continuous":
        return _analyse_continuous(layout, sim)
    if design.analysis == "glmm" or design.outcome == "count":
        from attunement.trials.glmm_power import analyse_glmm

        return analyse_glmm(layout, sim)
    return _analyse_binary(layout, sim)


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class PowerResult:
    """Power with its Clopper–Pearson interval and the simulation summaries.

    Examples
    --------
    Two arms of 64 families, one wave, d = 0.5: R's ``power.t.test(n = 64, delta = 0.5)``
    gives 0.8014586; 1,000 simulated trials give 0.799 [0.773, 0.823]:

    >>> result = run_power(TrialDesign(n_per_arm=64, waves=1, effect_size=0.5), 1000, seed=1)
    >>> result.to_dict()["power"], round(result.ci_lb, 3), round(result.ci_ub, 3)
    (0.799, 0.773, 0.823)
    >>> result.summary()[["term", "power"]].values.tolist()
    [['arm1', 0.799]]
    """

    design: TrialDesign
    sims: int
    power: float
    ci_lb: float
    ci_ub: float
    power_by_arm: list[float]
    mean_estimate: list[float]
    mean_se: list[float]
    failed: int
    boundary: int
    method: str

    @property
    def mc_se(self) -> float:
        """Monte Carlo standard error √(p(1 − p)/sims)."""
        return math.sqrt(self.power * (1 - self.power) / self.sims)

    def to_dict(self) -> dict[str, Any]:
        """The power and its interval, for JSON.

        Returns
        -------
        dict
            ``power``, ``ci_lb``, ``ci_ub`` and the number of simulations ``sims``.
        """
        return {"power": self.power, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "sims": self.sims}

    def summary(self) -> pd.DataFrame:
        """One row per active arm (vs arm 0): power, CI, mean estimate and SE.

        Returns
        -------
        pandas.DataFrame
            Columns term, power, ci_lb, ci_ub, mean_estimate and mean_se.
        """
        rows = []
        for i, term in enumerate(self.design.tested_terms):
            n_sig = round(self.power_by_arm[i] * self.sims)
            lb, ub = _clopper_pearson(n_sig, self.sims)
            rows.append({"term": term, "power": self.power_by_arm[i], "ci_lb": lb, "ci_ub": ub,
                         "mean_estimate": self.mean_estimate[i], "mean_se": self.mean_se[i]})
        return pd.DataFrame(rows)


def _clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = 1 - level
    lb = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    ub = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lb, ub


_POOLS: dict[int, Any] = {}


def _local_pool(workers: int) -> Any:
    """A process pool kept for the session (power curves call run_power once per size, and a
    fresh interpreter with NumPy/SciPy takes about a second to start)."""
    pool = _POOLS.get(workers)
    if pool is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: forking a process whose BLAS or Dask threads are running is unsafe
        pool = ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"))
        if not _POOLS:
            import atexit

            # shut the pools down before the interpreter tears modules down
            atexit.register(_close_pools)
        _POOLS[workers] = pool
    return pool


def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def run_power(
    design: TrialDesign,
    sims: int = 1000,
    seed: int | None = None,
    scheduler: str | Any | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> PowerResult:
    """Estimate power by simulating ``sims`` trials and analysing each with the planned model.

    ``scheduler`` is a Dask distributed scheduler address (or a ``distributed.Client``); the
    chunks then run on the cluster. Without one, ``workers`` > 1 runs the chunks in that many
    local processes (started fresh, so a script that calls this needs the usual
    ``if __name__ == "__main__":`` guard). Each chunk uses ``ATTUNEMENT_BLAS_THREADS`` BLAS threads (default 1:
    parallel chunks, not parallel BLAS calls on small matrices; see ``attunement._blas``).
    The result does not depend on ``workers`` or ``chunk_size`` ordering: each chunk has its
    own seed. ``progress`` is called with the number of simulations done.

    Parameters
    ----------
    design
        The trial (:class:`TrialDesign`).
    sims
        Number of simulated trials.
    seed
        Seed of the :class:`numpy.random.SeedSequence` the chunk seeds come from.
    scheduler, chunk_size, progress, workers
        Where and how the chunks run (above).

    Returns
    -------
    PowerResult
        ``power`` (share of simulations with p < alpha), its Clopper–Pearson interval
        ``ci_lb``, ``ci_ub`` (as simr's ``powerSim``), failed fits and summaries.

    Examples
    --------
    A two-arm trial, one wave, 64 families per arm, d = 0.5:
    ``run_power(TrialDesign(n_per_arm=64, waves=1, centres=1, icc_family=0, icc_centre=0,
    effect_size=0.5, attrition=0), 1000, seed=1).power`` is 0.799 [0.773, 0.823], around
    R's ``power.t.test(n = 64, delta = 0.5, sd = 1)$power`` = 0.8014586.
    The logistic-GLMM design of ``tests/reference/glmm_power.json`` (80 families, 3 waves,
    odds ratio 2.5 on the slope) gives 0.228 [0.202, 0.255] at seed 2026; R's loop of
    1,000 ``glmer(y ~ arm * time + (1 | family), family = binomial)`` fits gives 0.254
    (``tests/trials/test_glmm_power.py`` checks agreement within Monte Carlo error).
    """
    if workers < 1:
        raise TrialDesignError("'workers' must be at least 1")
    if sims < 1:
        raise TrialDesignError("'sims' must be at least 1")
    if chunk_size is None:
        chunk_size = 25 if design.outcome == "binary" and design.analysis != "glmm" else 250
    ss = np.random.SeedSequence(seed)
    sizes = [min(chunk_size, sims - i) for i in range(0, sims, chunk_size)]
    keys = [(ss.entropy, (*ss.spawn_key, i)) for i in range(len(sizes))]
    dd = design.to_dict()
    results: list[dict[str, np.ndarray] | None] = [None] * len(sizes)
    if scheduler is None and (workers == 1 or len(sizes) == 1):
        done = 0
        for i, (n, key) in enumerate(zip(sizes, keys, strict=True)):
            results[i] = _run_chunk(dd, n, key)
            done += n
            if progress:
                progress(done)
    elif scheduler is None:
        from concurrent.futures import as_completed as done_first

        pool = _local_pool(workers)
        futures = {pool.submit(_run_chunk, dd, n, key): i
                   for i, (n, key) in enumerate(zip(sizes, keys, strict=True))}
        done = 0
        for fut in done_first(futures):
            i = futures[fut]
            results[i] = fut.result()
            done += sizes[i]
            if progress:
                progress(done)
    else:
        from distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futures = client.map(_run_chunk, [dd] * len(sizes), sizes, keys, pure=False)
            where = {f.key: i for i, f in enumerate(futures)}
            done = 0
            for fut in as_completed(futures):
                i = where[fut.key]
                results[i] = fut.result()
                done += sizes[i]
                if progress:
                    progress(done)
        finally:
            if not isinstance(scheduler, Client):
                client.close()
    cat = {k: np.concatenate([r[k] for r in results]) for k in ("estimate", "se", "p",
                                                                  "converged", "boundary")}
    ok = np.all(np.isfinite(cat["se"]), axis=1)
    sig = (cat["p"] < design.alpha) & ok[:, None]
    by_arm = sig.mean(axis=0)
    k = int(sig[:, 0].sum())
    lb, ub = _clopper_pearson(k, sims)
    with np.errstate(invalid="ignore"):
        mean_est = np.nanmean(cat["estimate"], axis=0)
        mean_se = np.nanmean(cat["se"], axis=0)
    method = ("LMM (REML, vectorised profiled likelihood), t test with between-within df"
              if design.outcome == "continuous" else
              "Poisson GLMM (Laplace, as lme4's glmer; vectorised), Wald z test"
              if design.outcome == "count" else
              "logistic GLMM (Laplace, as lme4's glmer; vectorised), Wald z test"
              if design.analysis == "glmm" else
              "GEE logistic (exchangeable, robust SE), Wald z test"
              if design.waves > 1 or design.centres > 1 else "logistic regression, Wald z test")
    return PowerResult(design, sims, float(by_arm[0]), lb, ub, [float(x) for x in by_arm],
                       [float(x) for x in mean_est], [float(x) for x in mean_se],
                       failed=int((~ok).sum()), boundary=int(cat["boundary"].sum()),
                       method=method)


def power_curve(design: TrialDesign, n_values: list[int], sims: int = 1000,
                seed: int | None = None, scheduler: str | Any | None = None,
                progress: Callable[[int], None] | None = None,
                workers: int = 1) -> pd.DataFrame:
    """Power over families per arm; the same seed at each size (common random numbers).

    Parameters
    ----------
    design
        The trial; ``n_per_arm`` is replaced by each of ``n_values``.
    n_values
        Families per arm to try.
    sims, seed, scheduler, progress, workers
        As :func:`run_power`.

    Returns
    -------
    pandas.DataFrame
        One row per size: ``n_per_arm``, ``power``, ``ci_lb``, ``ci_ub``, ``sims``.

    Examples
    --------
    For the one-wave design of :func:`run_power`, ``power_curve(design, [32, 64], 200,
    seed=1)`` gives 0.525 and 0.810 (R: ``power.t.test(n = c(32, 64), delta = 0.5)`` gives
    0.5036 and 0.8015; 200 simulations have a Monte Carlo SE of about 0.035).
    """
    rows = []
    done = 0
    for n in n_values:
        res = run_power(replace(design, n_per_arm=int(n)), sims, seed, scheduler,
                        progress=(lambda k, base=done: progress(base + k)) if progress else None,
                        workers=workers)
        done += sims
        rows.append({"n_per_arm": int(n), "power": res.power, "ci_lb": res.ci_lb,
                     "ci_ub": res.ci_ub, "sims": sims})
    return pd.DataFrame(rows)


def closed_form_power(design: TrialDesign) -> float:
    """Analytic power where a closed form applies (continuous outcome, no attrition,
    two arms, no subgroup):

    * one wave: the two-sample t test with d / √(1 − ICC_centre) (individual randomisation
      balanced within centre with centre in the model: design effect 1 − ICC, Vierron &
      Giraudeau 2009), df = n − 2 − (K − 1);
    * one wave, whole centres randomised (m families each): the variance of the arm difference
      is multiplied by the design effect 1 + (m − 1)·ICC_centre, t test with K − 2 df;
    * effect at the final wave of two, or a constant post-baseline effect, no centre variance:
      the ANCOVA on baseline (which the constrained-baseline LMM matches asymptotically),
      variance factor (1 + (t − 1)ρ)/t − ρ² for t follow-ups (Frison & Pocock 1992);
    * effect on the slope, no centre variance: the GLS slope contrast of a random-intercept
      model, Var = 2σ²(1 − ρ) / (n Σ(tⱼ − t̄)²) (Diggle et al. 2002, ch. 2), normal approximation.

    Parameters
    ----------
    design
        The trial.

    Returns
    -------
    float
        The power; a :class:`TrialDesignError` says why a design has no closed form.

    Examples
    --------
    ``closed_form_power(TrialDesign(n_per_arm=64, waves=1, centres=1, icc_family=0,
    icc_centre=0, effect_size=0.5, attrition=0))`` is 0.8014595579, as R's
    ``power.t.test(n = 64, delta = 0.5, sd = 1, strict = TRUE)$power`` (0.8014595579).
    """
    d = design
    if d.outcome != "continuous" or d.attrition or d.arms != 2 or d.has_subgroup:
        raise TrialDesignError("a closed form needs a continuous outcome, two arms, no attrition "
                               "and no subgroup")
    n = d.n_per_arm
    z = stats.norm.ppf(1 - d.alpha / 2)
    if d.waves == 1 and d.allocation == "by_centre":
        m = d.families // d.centres
        deff = 1 + (m - 1) * d.icc_centre
        df = d.centres - 2
        nc = d.effect_size / math.sqrt(2 * deff / n)
        tcrit = stats.t.ppf(1 - d.alpha / 2, df)
        return float(stats.nct.sf(tcrit, df, nc) + stats.nct.cdf(-tcrit, df, nc))
    if d.waves == 1:
        deff = 1 - d.icc_centre if d.centres > 1 else 1.0
        delta = d.effect_size / math.sqrt(deff)
        df = 2 * n - 2 - (d.centres - 1)
        nc = delta * math.sqrt(n / 2)
        tcrit = stats.t.ppf(1 - d.alpha / 2, df)
        return float(stats.nct.sf(tcrit, df, nc) + stats.nct.cdf(-tcrit, df, nc))
    if d.effect_kind in ("final", "constant") and d.icc_centre == 0 and (
            d.effect_kind == "constant" or d.waves == 2):
        # ANCOVA on baseline of the mean of t follow-ups under compound symmetry
        # (Frison & Pocock 1992): variance factor (1 + (t − 1)ρ)/t − ρ²
        rho, t = d.icc_family, d.waves - 1
        factor = (1 + (t - 1) * rho) / t - rho ** 2
        ncp = d.effect_size / math.sqrt(2 * factor / n)
        return float(stats.norm.sf(z - ncp) + stats.norm.cdf(-z - ncp))
    if d.effect_kind == "slope" and d.icc_centre == 0:
        t = d.time_points
        slope = d.effect_size / (t[-1] - t[0])
        var = 2 * (1 - d.icc_family) / (n * ((t - t.mean()) ** 2).sum())
        ncp = slope / math.sqrt(var)
        return float(stats.norm.sf(z - ncp) + stats.norm.cdf(-z - ncp))
    raise TrialDesignError("no closed form for this design; use run_power")
