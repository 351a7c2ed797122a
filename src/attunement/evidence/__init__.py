"""Pooled evidence: effect sizes, meta-analysis, publication bias and plots (metafor's names).

>>> from attunement.evidence import escalc, rma
>>> dat = escalc("RR", ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11], di=[128, 274, 209])
>>> fit = rma(dat, method="REML")
>>> round(fit.estimate, 4)
-1.3749
"""

from attunement.evidence.bias import fsn, ranktest, regtest, trimfill
from attunement.evidence.effect_sizes import MEASURES, escalc, hedges_correction
from attunement.evidence.mantel_haenszel import MHResult, rma_mh, rma_peto
from attunement.evidence.models import METHODS, TESTS, RMAResult, rma
from attunement.evidence.multilevel import MVResult, rma_mv

__all__ = [
    "MEASURES",
    "METHODS",
    "TESTS",
    "MHResult",
    "MVResult",
    "RMAResult",
    "escalc",
    "fsn",
    "hedges_correction",
    "ranktest",
    "regtest",
    "rma",
    "rma_mh",
    "rma_mv",
    "rma_peto",
    "trimfill",
]
