"""Power by simulation for multicentre, longitudinal, individually randomised trials.

A :class:`TrialDesign` describes the trial: arms, families per arm randomised within centres
(balanced within each centre, as stratified blocks give), K centres, T waves, a continuous
outcome (total variance 1 = centre ICC + family ICC + residual) or a binary one (logistic, with
the ICCs on the latent scale, level-1 variance π²/3), monotone attrition that grows linearly to
``attrition`` at the last wave (missing completely at random, or depending on a baseline factor),
an effect on the arm × time slope or at the final wave only, and an optional subgroup with its
own additional effect (moderator).

``effect_size`` D is the standardised difference between arms at the last wave (for a binary
outcome it is converted to a log odds ratio by log OR = D·π/√3, Chinn 2000, unless
``odds_ratio`` is given).

Each simulated trial is analysed as the trial will be:

* continuous: a linear mixed model by REML, ``y ~ arm * time + (1 | centre) + (1 | family)``
  (``time`` replaced by the wave factor for a final-wave effect; ``* subgroup`` for moderator
  designs; the centre term is left out with one centre and the family term with one wave), with a
  t test on the arm contrast using between-within df. The fit is the profiled REML of lme4 (Bates et
  al. 2015) vectorised over simulations: with monotone dropout every family's cross-products are
  looked up from a table by (arm, subgroup, waves observed), V⁻¹ is explicit at both levels, so
  each REML evaluation for all simulations is a handful of small array operations, and the two
  relative variances are found by a vectorised projected Newton search. It agrees with
  :func:`attunement.trials.lmm.fit_lmm` (the lme4 formulation) to ~1e-6 (tested).
* binary: GEE (statsmodels) with a logit link, exchangeable working correlation within family
  (within centre when there is one wave) and robust (sandwich) SEs, Wald z test; with one centre
  and one wave, ordinary logistic regression.
* count (Poisson; ``rate_control`` λ per wave in the control arm, ``rate_ratio`` at the last
  wave, ICCs on the log scale with level-1 variance ln(1 + 1/λ)): the Poisson GLMM, as below.
* binary with ``analysis="glmm"``: the logistic GLMM with the same random effects as the
  continuous model, by Laplace as lme4's ``glmer``, fitted to all simulations at once
  (:mod:`attunement.trials.glmm_power`), Wald z test.

Power is the share of simulations with p < alpha, with a Clopper–Pearson interval (as simr).
``run_power(..., scheduler="tcp://host:8786")`` runs the chunks on a Dask distributed cluster;
the chunk seeds come from one :class:`numpy.random.SeedSequence`, so the result is the same
wherever the chunks run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from attunement._blas import bounded_blas
from attunement.trials.formula import model_matrix, parse_formula

__all__ = [
    "PowerResult",
    "TrialDesign",
    "TrialDesignError",
    "closed_form_power",
    "power_curve",
    "run_power",
    "simulate_trial",
]


class TrialDesignError(ValueError):
    """A power-analysis design that cannot be simulated, with the reason."""


@dataclass(frozen=True)
class TrialDesign:
    """Parameters of a simulated trial (see the module docstring)."""

    n_per_arm: int = 64
    arms: int = 2
    centres: int = 1
    waves: int = 1
    times: tuple[float, ...] | None = None
    effect_size: float = 0.5
    effect: str = "slope"
    icc_centre: float = 0.0
    icc_family: float = 0.0
    attrition: float = 0.0
    attrition_mechanism: str = "mcar"
    attrition_ratio: float = 2.0
    baseline_factor_prevalence: float = 0.3
    outcome: str = "continuous"
    p_control: float = 0.45
    rate_control: float = 2.0
    rate_ratio: float | None = None
    odds_ratio: float | None = None
    allocation: str = "within_centre"
    subgroup_prevalence: float = 0.0
    subgroup_effect: float = 0.0
    test: str = "main"
    alpha: float = 0.05
    analysis: str | None = None

    def __post_init__(self) -> None:
        def fail(key: str, why: str) -> None:
            raise TrialDesignError(f"'{key}': {why}")

        for key in ("n_per_arm", "arms", "centres", "waves"):
            v = getattr(self, key)
            if not isinstance(v, int | np.integer) or isinstance(v, bool):
                fail(key, f"must be a whole number, got {v!r}")
        if self.n_per_arm < 2:
            fail("n_per_arm", f"must be at least 2, got {self.n_per_arm}")
        if self.arms < 2:
            fail("arms", f"at least two arms are needed, got {self.arms}")
        if self.centres < 1:
            fail("centres", f"must be at least 1, got {self.centres}")
        if self.waves < 1:
            fail("waves", f"must be at least 1, got {self.waves}")
        if self.centres > self.n_per_arm * self.arms:
            fail("centres", f"{self.centres} centres for {self.n_per_arm * self.arms} families")
        if self.allocation not in {"within_centre", "by_centre"}:
            fail("allocation", "must be 'within_centre' (families randomised within centres) "
                               "or 'by_centre' (whole centres randomised)")
        if self.allocation == "by_centre":
            if self.centres < 2 * self.arms or self.centres % self.arms:
                fail("centres", f"randomising whole centres needs a multiple of {self.arms} "
                                f"centres and at least {2 * self.arms}, got {self.centres}")
            if (self.n_per_arm * self.arms) % self.centres:
                fail("n_per_arm", "randomising whole centres needs the same number of families "
                                  f"in every centre: {self.n_per_arm * self.arms} families do not "
                                  f"divide into {self.centres} centres")
        if self.times is not None:
            if len(self.times) != self.waves:
                fail("times", f"has {len(self.times)} entries for {self.waves} waves")
            if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
                fail("times", "must increase")
        for key in ("icc_centre", "icc_family"):
            v = getattr(self, key)
            if not 0 <= v < 1:
                fail(key, f"an ICC must be in [0, 1), got {v}")
        if self.icc_centre + self.icc_family >= 1:
            fail("icc_family", f"icc_centre + icc_family = {self.icc_centre + self.icc_family} "
                               "leaves no residual variance (must be < 1)")
        if not 0 <= self.attrition < 1:
            fail("attrition", f"must be a proportion in [0, 1), got {self.attrition}")
        if self.attrition_mechanism not in {"mcar", "baseline"}:
            fail("attrition_mechanism", "must be 'mcar' or 'baseline'")
        if self.attrition_ratio <= 0:
            fail("attrition_ratio", "must be positive")
        if not 0 < self.baseline_factor_prevalence < 1:
            fail("baseline_factor_prevalence", "must be in (0, 1)")
        if self.attrition_mechanism == "baseline":
            q = self._factor_prevalence
            top = self.attrition * self.attrition_ratio / (q * self.attrition_ratio + 1 - q)
            if top >= 1:
                fail("attrition_ratio", f"makes attrition {top:.2f} ≥ 1 in the baseline group")
        if self.effect not in {"slope", "final", "constant"}:
            fail("effect", "must be 'slope', 'final' or 'constant'")
        if self.outcome not in {"continuous", "binary", "count"}:
            fail("outcome", "must be 'continuous', 'binary' or 'count'")
        if not self.rate_control > 0:
            fail("rate_control", f"must be positive, got {self.rate_control}")
        if self.rate_ratio is not None and not self.rate_ratio > 0:
            fail("rate_ratio", f"must be positive, got {self.rate_ratio}")
        if self.outcome == "count" and self.rate_ratio is None:
            fail("rate_ratio", "a count outcome needs the rate ratio (intervention vs control "
                               "at the last wave)")
        if not 0 < self.p_control < 1:
            fail("p_control", f"must be in (0, 1), got {self.p_control}")
        if self.odds_ratio is not None and self.odds_ratio <= 0:
            fail("odds_ratio", "must be positive")
        if not 0 <= self.subgroup_prevalence < 1:
            fail("subgroup_prevalence", "must be in [0, 1)")
        if self.test not in {"main", "moderator"}:
            fail("test", "must be 'main' or 'moderator'")
        if self.test == "moderator" and self.subgroup_prevalence == 0:
            fail("subgroup_prevalence", "a moderator test needs a subgroup (prevalence > 0)")
        if not 0 < self.alpha < 1:
            fail("alpha", "must be in (0, 1)")
        if self.analysis is not None:
            allowed = {"continuous": {"lmm"}, "binary": {"gee", "glmm"},
                       "count": {"glmm"}}[self.outcome]
            if self.analysis not in allowed:
                fail("analysis", f"for a {self.outcome} outcome must be "
                                 f"{' or '.join(sorted(allowed))}, got {self.analysis!r}")
        if self.outcome == "count" and self.waves == 1 and self.centres == 1:
            fail("outcome", "a count outcome is analysed by a Poisson GLMM, which needs a random "
                            "effect: more than one wave (family) or centre")
        if self.analysis == "glmm" and self.waves == 1 and self.centres == 1:
            fail("analysis", "a GLMM needs a random effect: more than one wave (family) or "
                             "centre; with one of each the analysis is logistic regression")

    @property
    def _factor_prevalence(self) -> float:
        return self.subgroup_prevalence or self.baseline_factor_prevalence

    @property
    def time_points(self) -> np.ndarray:
        return np.asarray(self.times if self.times is not None else range(self.waves), float)

    @property
    def effect_kind(self) -> str:
        return "single" if self.waves == 1 else self.effect

    @property
    def has_subgroup(self) -> bool:
        return self.subgroup_prevalence > 0

    @property
    def families(self) -> int:
        return self.n_per_arm * self.arms

    @property
    def latent_residual(self) -> float:
        """Level-1 variance on the link scale that the ICCs refer to: π²/3 for a binary
        outcome (logistic), ln(1 + 1/λ) at the control rate λ for a count (the lognormal
        approximation; Nakagawa, Johnson & Schielzeth 2017, *J R Soc Interface* 14:20170213)."""
        if self.outcome == "count":
            return math.log(1 + 1 / self.rate_control)
        return math.pi ** 2 / 3 if self.outcome == "binary" else 1.0

    @property
    def log_odds_ratio(self) -> float:
        if self.odds_ratio is not None:
            return math.log(self.odds_ratio)
        return self.effect_size * math.pi / math.sqrt(3)

    @property
    def formula(self) -> str:
        """The planned analysis model (lme4 syntax).

        ``slope``: ``arm * time``. ``final`` and ``constant``: constrained longitudinal data
        analysis (cLDA; Liang & Zeger 2000) — wave means plus an arm effect at post-baseline
        waves only (``arm1_w1`` … = arm 1 × wave j indicators; ``arm1_post`` for a common
        post-baseline effect), since randomised arms share the baseline mean; asymptotically
        the ANCOVA on baseline (Frison & Pocock 1992).
        """
        T = self.waves
        kind = self.effect_kind
        if kind == "single":
            rhs = "arm"
        elif kind == "slope":
            rhs = "arm * time"
        elif kind == "final":
            rhs = " + ".join(["wavef"] + [f"arm{k}_w{j}" for k in range(1, self.arms)
                                          for j in range(1, T)])
        else:
            rhs = " + ".join(["wavef"] + [f"arm{k}_post" for k in range(1, self.arms)])
        if self.test == "moderator":
            rhs = f"({rhs}) * subgroup" if kind in ("final", "constant") else f"{rhs} * subgroup"
        elif self.has_subgroup:
            rhs = f"{rhs} + subgroup"
        re = []
        if self.centres > 1:
            re.append("(1 | centre)")
        if self.waves > 1:
            re.append("(1 | family)")
        return " + ".join([f"y ~ {rhs}", *re])

    @property
    def tested_terms(self) -> list[str]:
        """The coefficient tested for each active arm (R's names)."""
        out = []
        for k in range(1, self.arms):
            a = f"arm{k}"
            term = {"single": a, "slope": f"{a}:time", "final": f"{a}_w{self.waves - 1}",
                    "constant": f"{a}_post"}[self.effect_kind]
            if self.test == "moderator":
                term = f"{term}:subgroup"
            out.append(term)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "design") -> TrialDesign:
        """Build from a mapping (YAML design file keys = field names), with clear errors."""
        if not isinstance(d, dict):
            raise TrialDesignError(f"{source}: expected a mapping, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - {"sims", "seed", "n_values"}
        if unknown:
            raise TrialDesignError(f"{source}: unknown key(s) {sorted(unknown)}; allowed: "
                                   f"{sorted(names)}")
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("times") is not None:
            kw["times"] = tuple(float(t) for t in kw["times"])
        try:
            return cls(**kw)
        except TrialDesignError as e:
            raise TrialDesignError(f"{source}: {e}") from e
        except TypeError as e:
            raise TrialDesignError(f"{source}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["times"] is not None:
            d["times"] = list(d["times"])
        return d


# ---------------------------------------------------------------------------------------------
# fixed layout of a design


@dataclass
class _Layout:
    design: TrialDesign
    centre: np.ndarray  # (F,)
    arm: np.ndarray  # (F,)
    types: int  # arms * (2 if subgroup else 1)
    X: np.ndarray  # (types, T, p) design rows per family type and wave
    names: list[str]
    tested: list[int]
    between: np.ndarray  # (p,) columns constant within family
    between_centre: np.ndarray  # (p,) columns constant within centre
    mean: np.ndarray  # (types, T) expected outcome (continuous: mean; binary: logit)
    Sxx: np.ndarray = field(init=False)  # (types, T+1, p, p) cumulative Σ x xᵀ over first m waves
    sx: np.ndarray = field(init=False)  # (types, T+1, p)

    def __post_init__(self) -> None:
        cx = np.cumsum(self.X[:, :, :, None] * self.X[:, :, None, :], axis=1)
        z = np.zeros((self.types, 1, *cx.shape[2:]))
        self.Sxx = np.concatenate([z, cx], axis=1)
        c1 = np.cumsum(self.X, axis=1)
        self.sx = np.concatenate([np.zeros((self.types, 1, c1.shape[2])), c1], axis=1)


def _add_clda_columns(df: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Arm × post-baseline-wave indicators used by the constrained-baseline models."""
    arm = df["arm"].astype(str)
    for k in range(1, design.arms):
        for j in range(1, design.waves):
            df[f"arm{k}_w{j}"] = ((arm == str(k)) & (df["wave"] == j)).astype(float)
        df[f"arm{k}_post"] = ((arm == str(k)) & (df["wave"] > 0)).astype(float)
    return df


def _layout(design: TrialDesign) -> _Layout:
    K, A = design.centres, design.arms
    F = design.families
    # families spread over centres as evenly as possible; arms balanced within each centre
    centre = np.repeat(np.arange(K), np.diff(np.linspace(0, F, K + 1).round().astype(int)))
    arm = np.zeros(F, int)
    for c in range(K):
        idx = np.flatnonzero(centre == c)
        arm[idx] = c % A if design.allocation == "by_centre" else (np.arange(len(idx)) + c) % A
    # make arm sizes exactly n_per_arm (the rotation above can leave ±1 per arm)
    counts = np.bincount(arm, minlength=A)
    while counts.max() > design.n_per_arm:
        big, small = counts.argmax(), counts.argmin()
        arm[np.flatnonzero(arm == big)[-1]] = small
        counts = np.bincount(arm, minlength=A)
    subs = [0, 1] if design.has_subgroup else [0]
    rows = []
    times = design.time_points
    for a in range(A):
        for s in subs:
            for j in range(design.waves):
                rows.append({"arm": str(a), "subgroup": float(s), "time": times[j],
                             "wavef": str(j), "wave": j, "y": 0.0})
    df = _add_clda_columns(pd.DataFrame(rows), design)
    f = parse_formula(design.formula)
    X, names = model_matrix(df, f.fixed, f.intercept)
    types = A * len(subs)
    X = X.reshape(types, design.waves, -1)
    tested = [names.index(t) for t in design.tested_terms]
    between = np.all(np.abs(X - X[:, :1, :]) < 1e-12, axis=(0, 1))
    # columns constant within centre: intercept only, or (whole centres randomised) anything
    # that depends on arm alone
    Xa = X.reshape(A, len(subs), design.waves, -1)
    if design.allocation == "by_centre":
        between_centre = np.all(np.abs(Xa - Xa[:, :1, :1, :]) < 1e-12, axis=(0, 1, 2))
    else:
        between_centre = np.all(np.abs(Xa - Xa[:1, :1, :1, :]) < 1e-12, axis=(0, 1, 2))
    # expected outcome by type and wave
    mean = np.zeros((types, design.waves))
    t0, tT = times[0], times[-1]
    eff = design.effect_size if design.outcome == "continuous" else design.log_odds_ratio
    sub_eff = design.subgroup_effect if design.outcome == "continuous" else (
        design.subgroup_effect * math.pi / math.sqrt(3))
    base = 0.0 if design.outcome == "continuous" else math.log(
        design.p_control / (1 - design.p_control))
    if design.outcome == "count":
        eff, base = math.log(design.rate_ratio), math.log(design.rate_control)
        sub_eff = design.subgroup_effect
    for a in range(A):
        for si, s in enumerate(subs):
            k = a * len(subs) + si
            d = (eff + s * sub_eff) if a > 0 else 0.0
            for j in range(design.waves):
                if design.effect_kind == "single":
                    shape = 1.0
                elif design.effect_kind == "slope":
                    shape = (times[j] - t0) / (tT - t0)
                elif design.effect_kind == "constant":
                    shape = 1.0 if j > 0 else 0.0
                else:
                    shape = 1.0 if j == design.waves - 1 else 0.0
                mean[k, j] = base + d * shape
    return _Layout(design, centre, arm, types, X, names, tested, between, between_centre, mean)


def _draw(layout: _Layout, S: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Simulate S trials: outcomes (S, F, T), family types (S, F) and waves observed (S, F)."""
    d = layout.design
    F, T, K = d.families, d.waves, d.centres
    nsub = 2 if d.has_subgroup else 1
    sub = (rng.random((S, F)) < d.subgroup_prevalence).astype(int) if d.has_subgroup else (
        np.zeros((S, F), int))
    typ = layout.arm[None, :] * nsub + sub
    if d.outcome == "continuous":
        vc, vf = d.icc_centre, d.icc_family
        ve = 1.0 - vc - vf
    else:
        scale = d.latent_residual / (1 - d.icc_centre - d.icc_family)
        vc, vf, ve = d.icc_centre * scale, d.icc_family * scale, 0.0
    eta = layout.mean[typ]  # (S, F, T)
    eta = eta + math.sqrt(vc) * rng.standard_normal((S, K))[:, layout.centre][:, :, None]
    eta = eta + math.sqrt(vf) * rng.standard_normal((S, F))[:, :, None]
    if d.outcome == "continuous":
        y = eta + math.sqrt(ve) * rng.standard_normal((S, F, T))
    elif d.outcome == "count":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = (rng.random((S, F, T)) < 1 / (1 + np.exp(-eta))).astype(float)
    # monotone dropout: lost by wave j with probability attrition * j / (T - 1)
    u = rng.random((S, F))
    if T == 1:
        cum = np.array([d.attrition])
    else:
        cum = d.attrition * np.arange(T) / (T - 1)
    if d.attrition_mechanism == "baseline":
        q, r = d._factor_prevalence, d.attrition_ratio
        factor = sub.astype(bool) if d.has_subgroup else rng.random((S, F)) < q
        mult = np.where(factor, r, 1.0) / (q * r + 1 - q)
    else:
        mult = np.ones((S, F))
    lost_at = cum[None, None, :] * mult[:, :, None]  # (S, F, T)
    observed = u[:, :, None] >= lost_at
    m = observed.sum(axis=2)
    return {"y": y, "type": typ, "m": m}


# ---------------------------------------------------------------------------------------------
# vectorised profiled REML for nested centre / family random intercepts


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


def simulate_trial(design: TrialDesign, seed: int | None = None) -> pd.DataFrame:
    """One simulated trial as a long table (centre, family, arm, subgroup, wave, time, y),
    observed rows only, for inspection or for fitting with :func:`~attunement.trials.fit_lmm`."""
    layout = _layout(design)
    sim = _draw(layout, 1, np.random.default_rng(seed))
    nsub = 2 if design.has_subgroup else 1
    rows = []
    for f in range(design.families):
        for j in range(int(sim["m"][0, f])):
            rows.append({"centre": f"c{layout.centre[f] + 1:02d}", "family": f"f{f + 1:04d}",
                         "arm": str(layout.arm[f]), "subgroup": float(sim["type"][0, f] % nsub),
                         "wave": j, "wavef": str(j), "time": design.time_points[j],
                         "y": sim["y"][0, f, j]})
    return _add_clda_columns(pd.DataFrame(rows), design)


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
    """Power with its Clopper–Pearson interval and the simulation summaries."""

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
        return {"power": self.power, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "sims": self.sims}

    def summary(self) -> pd.DataFrame:
        """One row per active arm (vs arm 0): power, CI, mean estimate and SE."""
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
    """Power over families per arm; the same seed at each size (common random numbers)."""
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
