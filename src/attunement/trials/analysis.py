"""Intention-to-treat summaries and subgroup (moderator) analyses of a longitudinal trial.

Everyone is analysed in the arm they were allocated to (ITT); the mixed model uses every
observed wave of every family (valid under missing at random given the model's terms).
A subgroup analysis fits the planned model with the arm effect interacting with the subgroup
factor (``y ~ arm * wave * smi + (1 | centre) + (1 | family)``), reports the arm effect within
each subgroup level (linear contrasts with Satterthwaite df), and tests the interaction — the
only valid evidence that the effect differs between subgroups (a significant effect in one
subgroup and not in another is not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from attunement.trials.formula import FormulaError, parse_formula, term_columns
from attunement.trials.lmm import LMMResult, fit_lmm

__all__ = ["SEED_SUBGROUPS", "itt_summary", "subgroup_analysis"]

#: Subgroups the field lacks evidence for (docs/clinical-safety.md; the design's subgroups); the usual column names for them.
SEED_SUBGROUPS = {
    "smi": "parent with severe mental illness",
    "foster_adoptive": "foster or adoptive dyad",
    "single_carer": "single-carer family",
}


def itt_summary(data: pd.DataFrame, outcome: str, arm: str = "arm", time: str | None = "wave",
                id_column: str | None = "family") -> pd.DataFrame:
    """Per arm (and wave): families randomised, observed, mean, SD and SE of the outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation, every randomised family included.
    outcome : str
        The outcome column (missing values count as not observed).
    arm : str, default "arm"
        The arm column.
    time : str or None, default "wave"
        The time column, or None for one row per arm.
    id_column : str or None, default "family"
        The unit of randomisation (None: count rows).

    Returns
    -------
    pandas.DataFrame
        One row per arm (and time): randomised, observed, mean, sd, se.

    Examples
    --------
    A simulated trial of 20 families per arm, seen at three waves:

    >>> from attunement.trials import TrialDesign, simulate_trial
    >>> trial = simulate_trial(TrialDesign(n_per_arm=20, centres=2, waves=3), seed=1)
    >>> table = itt_summary(trial, "y")
    >>> table.columns.tolist(), table.randomised.tolist()
    (['arm', 'wave', 'randomised', 'observed', 'mean', 'sd', 'se'], [20, 20, 20, 20, 20, 20])
    """
    for c in [outcome, arm, time, id_column]:
        if c is not None and c not in data.columns:
            raise FormulaError(f"the data have no column {c!r}")
    keys = [arm] + ([time] if time else [])
    rows = []
    n_rand = data.groupby(arm)[id_column].nunique() if id_column else data.groupby(arm).size()
    for key, sub in data.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        y = sub[outcome].dropna()
        row = dict(zip(keys, key, strict=True))
        row |= {"randomised": int(n_rand[key[0]]),
                "observed": int(sub.loc[y.index, id_column].nunique() if id_column else len(y)),
                "mean": float(y.mean()) if len(y) else np.nan,
                "sd": float(y.std(ddof=1)) if len(y) > 1 else np.nan}
        row["se"] = row["sd"] / np.sqrt(len(y)) if len(y) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _term_columns(data: pd.DataFrame, formula: str) -> dict[tuple[str, ...], list[str]]:
    f = parse_formula(formula)
    cols = term_columns(data, f.fixed, f.intercept)
    return {t: [name for name, _ in c] for t, c in zip(f.fixed, cols, strict=True)}


def subgroup_analysis(
    data: pd.DataFrame,
    outcome: str,
    subgroup: str,
    arm: str = "arm",
    time: str | None = "wave",
    random: str = "(1 | centre) + (1 | family)",
    reml: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, LMMResult]:
    """Arm effect within each level of ``subgroup`` and the arm × subgroup interaction test.

    With ``time`` the effect is the arm × time slope difference (``arm:wave``), otherwise the
    arm difference. Returns (effects by level, interaction test, the fitted model). The
    interaction test is a Wald F test of all interaction coefficients (denominator df:
    Satterthwaite for a single coefficient, the smallest of the coefficients' df otherwise).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation.
    outcome : str
        The outcome column.
    subgroup : str
        The subgroup column (e.g. ``"smi"``).
    arm : str, default "arm"
        The arm column.
    time : str or None, default "wave"
        The time column (None: the arm difference).
    random : str, default "(1 | centre) + (1 | family)"
        The random part of the model.
    reml : bool, default True
        Fit by REML.

    Returns
    -------
    effects : pandas.DataFrame
        Per subgroup level: n, estimate, se, df, CI, p.
    test : pandas.DataFrame
        The interaction's F (and χ²) test.
    fit : LMMResult
        The model with the interaction.

    Examples
    --------
    On the public fixture, ``subgroup_analysis(d, "y", "smi")`` reproduces lme4's
    ``arm:wave:smi`` = −0.17263 (SE 0.15030) as the interaction (``tests/trials``). On a
    simulated trial:

    >>> from attunement.trials import TrialDesign, simulate_trial
    >>> design = TrialDesign(n_per_arm=20, waves=3, subgroup_prevalence=0.3, subgroup_effect=0.3)
    >>> data = simulate_trial(design, seed=1)
    >>> effects, test, fit = subgroup_analysis(data, "y", "subgroup", random="(1 | family)")
    >>> effects.level.tolist(), int(test.df1.iloc[0])
    ([0.0, 1.0], 1)
    """
    for c in (outcome, subgroup, arm) + ((time,) if time else ()):
        if c not in data.columns:
            raise FormulaError(f"the data have no column {c!r}")
    sg = f"factor({subgroup})"
    am = f"factor({arm})"
    base = f"{am} * {time}" if time else am
    formula = f"{outcome} ~ {base} * {sg} + {random}"
    fit = fit_lmm(formula, data, reml=reml)
    cols = _term_columns(data.dropna(subset=[outcome, subgroup, arm]), formula)
    effect_key = (am, time) if time else (am,)
    inter_key = (*effect_key, sg)
    effect_cols = cols[effect_key]
    inter_cols = cols[inter_key]
    names = list(fit.fixed["term"])
    levels = sorted(data[subgroup].dropna().unique().tolist())
    rows = []
    per_level = len(inter_cols) // len(effect_cols)
    for ai, ecol in enumerate(effect_cols):
        for li, level in enumerate(levels):
            c = np.zeros(len(names))
            c[names.index(ecol)] = 1.0
            if li > 0:
                c[names.index(inter_cols[ai * per_level + (li - 1)])] = 1.0
            res = fit.contrast(c)
            q = stats.t.ppf(0.975, res["df"])
            n = int(data.loc[data[subgroup] == level, "family"].nunique()) if (
                "family" in data.columns) else int((data[subgroup] == level).sum())
            rows.append({"effect": ecol, "subgroup": subgroup, "level": level, "n": n,
                         "estimate": res["estimate"], "se": res["se"], "df": res["df"],
                         "ci_lb": res["estimate"] - q * res["se"],
                         "ci_ub": res["estimate"] + q * res["se"], "p": res["p"]})
    effects = pd.DataFrame(rows)
    idx = [names.index(c) for c in inter_cols]
    b = fit.fixed["estimate"].to_numpy()[idx]
    V = fit.vcov.to_numpy()[np.ix_(idx, idx)]
    wald = float(b @ np.linalg.solve(V, b))
    k = len(idx)
    df2 = float(fit.fixed["df"].to_numpy()[idx].min())
    F = wald / k
    test = pd.DataFrame([{"terms": ", ".join(inter_cols), "F": F, "df1": k, "df2": df2,
                          "p": float(stats.f.sf(F, k, df2)), "chi2": wald,
                          "p_chi2": float(stats.chi2.sf(wald, k))}])
    return effects, test, fit
