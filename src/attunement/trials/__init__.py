"""Multicentre trials: randomisation, power by simulation, mixed models (linear, and binomial/Poisson
GLMMs), ITT/subgroups, CONSORT.

Pure Python on NumPy/SciPy/pandas (statsmodels for GEE, matplotlib for the diagram, Dask only when
a scheduler is given); usable from a notebook with no server or database.
"""

from attunement.trials.analysis import SEED_SUBGROUPS, itt_summary, subgroup_analysis
from attunement.trials.consort import ConsortCounts, ConsortError, consort_counts, draw_consort
from attunement.trials.formula import FormulaError, parse_formula
from attunement.trials.glmm import GLMMResult, fit_glmm
from attunement.trials.lmm import LMMResult, fit_lmm, likelihood_ratio_test
from attunement.trials.power import (
    PowerResult,
    TrialDesign,
    TrialDesignError,
    closed_form_power,
    power_curve,
    run_power,
    simulate_trial,
)
from attunement.trials.profile import confint
from attunement.trials.randomisation import (
    Allocation,
    DesignError,
    RandomisationDesign,
    Randomiser,
    allocate_participants,
    balance_report,
    verify_allocations,
)

__all__ = [
    "SEED_SUBGROUPS",
    "Allocation",
    "ConsortCounts",
    "ConsortError",
    "DesignError",
    "FormulaError",
    "GLMMResult",
    "LMMResult",
    "PowerResult",
    "RandomisationDesign",
    "Randomiser",
    "TrialDesign",
    "TrialDesignError",
    "allocate_participants",
    "balance_report",
    "closed_form_power",
    "confint",
    "consort_counts",
    "draw_consort",
    "fit_glmm",
    "fit_lmm",
    "itt_summary",
    "likelihood_ratio_test",
    "parse_formula",
    "power_curve",
    "run_power",
    "simulate_trial",
    "subgroup_analysis",
    "verify_allocations",
]
