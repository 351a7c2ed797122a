"""Trial designs for power by simulation, and the simulated trials themselves.

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

:func:`_layout` fixes what every simulated trial of a design shares (families, arms, design
rows); :func:`_draw` draws S trials at once; :func:`simulate_trial` gives one as a table. The
analyses are in :mod:`attunement.trials.power_fit` and :mod:`attunement.trials.glmm_power`, the
runner in :mod:`attunement.trials.power`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from attunement.trials.formula import model_matrix, parse_formula

__all__ = ["TrialDesign", "TrialDesignError", "simulate_trial"]

class TrialDesignError(ValueError):
    """A power-analysis design that cannot be simulated, with the reason."""


@dataclass(frozen=True)
class TrialDesign:
    """Parameters of a simulated trial (see the module docstring).

    Examples
    --------
    Three waves, families correlated (ICC 0.2), the effect on the slope over time:

    >>> design = TrialDesign.from_dict({"n_per_arm": 40, "waves": 3, "icc_family": 0.2})
    >>> design.formula, design.tested_terms
    ('y ~ arm * time + (1 | family)', ['arm1:time'])
    >>> TrialDesign.from_dict(design.to_dict()) == design
    True
    """

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
        """Build from a mapping (YAML design file keys = field names), with clear errors.

        Parameters
        ----------
        d : dict
            The design's keys; ``sims``, ``seed`` and ``n_values`` (run settings) are allowed
            and ignored.
        source : str, default "design"
            The file name, for the messages.

        Returns
        -------
        TrialDesign
            The checked design.
        """
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
        """Every field, as a design file would give it.

        Returns
        -------
        dict
            A mapping :meth:`from_dict` accepts (``times`` as a list).
        """
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



def simulate_trial(design: TrialDesign, seed: int | None = None) -> pd.DataFrame:
    """One simulated trial as a long table (centre, family, arm, subgroup, wave, time, y),
    observed rows only, for inspection or for fitting with :func:`~attunement.trials.fit_lmm`.

    Parameters
    ----------
    design
        The trial.
    seed
        Seed of the random generator.

    Returns
    -------
    pandas.DataFrame
        One row per observed family × wave.

    Examples
    --------
    ``fit_lmm(design.formula, simulate_trial(design, seed=1))`` is the analysis that
    :func:`~attunement.trials.run_power` repeats; R's simr does the same with
    ``powerSim(fit, nsim = 1000)`` on an ``lmer`` fit (``tests/trials/test_power.py`` checks
    each vectorised fit against :func:`~attunement.trials.fit_lmm`, itself checked against
    lme4).
    """
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
