"""Pooled evidence: effect sizes, meta-analysis, publication bias and plots (metafor's names).

Functions (each matches R's metafor 3.8-1, see ``tests/evidence``):

- ``escalc(measure, data, ...)``: yi and vi for SMD, MD, SMDH, ROM, OR, RR, RD, PETO, AS, COR,
  ZCOR, MC, SMCC, SMCR, proportions (PR, PLN, PLO, PAS, PFT) and incidence rates (IR, IRLN,
  IRS, IRFT, IRR, IRD) and the rest of metafor's measures (PHI, YUQ, RTET, paired MPOR...,
  SMD1, CVR, SMCRH, ROMC, MN, UCOR, PCOR, Cronbach's alpha ABT...; see ``escalc``), with
  metafor's zero-cell rules (``add``, ``to``, ``drop00``);
  ``attunement.evidence.transf``: metafor's back-transformations (``transf.ilogit``,
  ``transf.ipft.hm``, ...).
- ``rma(yi, vi, method=, test=, mods=)``: FE/EE, DL, HE, HS, HSk, SJ, ML, REML, EB, PM, GENQ
  (one estimator class each, registered in ``attunement.evidence.estimators.ESTIMATORS``);
  z, Knapp-Hartung, t, ad hoc tests; returns an ``RMAResult`` with ``predict()`` (CI and
  prediction interval), ``confint()`` (Q-profile), ``leave1out()``, ``cumul()``,
  ``influence()``, ``regtest()``, ``ranktest()``, ``trimfill()``, ``coef_table()``,
  ``study_table()``, ``to_dict()`` and a metafor-style print.
- ``rma(yi, vi, mods=, scale=)``: location-scale models (log τ²ᵢ linear in the ``scale``
  moderators; metafor's ``rma.ls``), returning an ``RMALSResult``.
- ``fit.robust(cluster, clubSandwich=False)`` / ``robust``: cluster-robust tests (CR1 with
  t(n − p), or CR2 with Satterthwaite df and the HTZ test as clubSandwich).
- ``subgroup_analysis(fit, groups)``: separate fits and the test of subgroup differences.
- ``regtest``, ``ranktest``, ``trimfill``, ``fsn``: small-study effects / publication bias.
- ``rma_mh``, ``rma_peto``: Mantel-Haenszel and Peto pooling of 2x2 tables.
- ``rma_mv(yi, V, random=, struct=, mods=)``: multivariate / multilevel models as metafor's
  ``rma.mv`` (``"~ 1 | study/es"``, ``"~ outcome | trial"`` with CS, HCS, UN, AR, ID, DIAG),
  with ``fit.robust(cluster)``; ``vcalc``: V for correlated estimates.
- ``permutest(fit)``, ``anova(fit, X=|btt=)`` / ``anova(full, reduced)`` (LRT), ``blup(fit)``,
  ``vif(fit[, btt])``, ``profile_tau2(fit)``: metafor's permutest, anova, blup, vif, profile;
  ``selmodel(fit, steps)`` / ``type="beta"``: selection models (ML); ``hc(fit)``: Henmi-Copas CI; ``attunement.evidence.plots_more``:
  Baujat, radial and GOSH plots.
- ``rma_batch(Y, V)``: thousands of intercept-only fits in one vectorised call.
- ``attunement.evidence.plots``: ``forest_plot`` and ``funnel_plot`` (PNG, SVG, PDF).
- ``attunement.evidence.datasets``: metafor's ``dat.bcg``, ``dat.berkey1998``,
  ``dat.hackshaw1998``, ``dat.konstantopoulos2011`` and ``dat.raudenbush1985`` for the examples.

Methods, sources and tolerances: ``docs/statistics/evidence.md``.

>>> from attunement.evidence import escalc, rma
>>> dat = escalc("RR", ai=[4, 6, 3, 62, 33, 180], bi=[119, 300, 228, 13536, 5036, 1361],
...              ci=[11, 29, 11, 248, 47, 372], di=[128, 274, 209, 12619, 5761, 1079])
>>> fit = rma(dat)      # REML; metafor with threshold=1e-12: -0.9877175883, 0.2236909429
>>> round(fit.estimate, 10), round(fit.tau2, 10)
(-0.9877175883, 0.2236909429)
"""

from attunement.evidence.batch import rma_batch
from attunement.evidence.bias import fsn, ranktest, regtest, trimfill
from attunement.evidence.diagnostics_more import blup, profile_tau2, vif
from attunement.evidence.effect_sizes import MEASURES, escalc, hedges_correction
from attunement.evidence.location_scale import RMALSResult
from attunement.evidence.mantel_haenszel import MHResult, rma_mh, rma_peto
from attunement.evidence.models import METHODS, TESTS, RMAResult, rma
from attunement.evidence.multilevel import MVResult, rma_mv
from attunement.evidence.permutation import PermutestResult, permutest
from attunement.evidence.robust import RobustResult, robust
from attunement.evidence.selection import HCResult, SelModelResult, hc, selmodel
from attunement.evidence.subgroups import subgroup_analysis
from attunement.evidence.tests_anova import anova
from attunement.evidence.vcalc import vcalc

__all__ = [
    "MEASURES",
    "METHODS",
    "TESTS",
    "HCResult",
    "MHResult",
    "MVResult",
    "PermutestResult",
    "RMALSResult",
    "RMAResult",
    "RobustResult",
    "SelModelResult",
    "anova",
    "blup",
    "escalc",
    "fsn",
    "hc",
    "hedges_correction",
    "permutest",
    "profile_tau2",
    "ranktest",
    "regtest",
    "rma",
    "rma_batch",
    "rma_mh",
    "rma_mv",
    "rma_peto",
    "robust",
    "selmodel",
    "subgroup_analysis",
    "trimfill",
    "vcalc",
    "vif",
]
