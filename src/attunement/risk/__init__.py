"""The family's cumulative vulnerability profile (factors, urgent overlay, tier, pathways).

>>> import attunement
>>> prof = attunement.profile("examples/family.json")   # doctest: +SKIP
>>> prof.tier, prof.urgent, prof.cumulative_risk         # doctest: +SKIP
"""

from __future__ import annotations

from attunement.risk.config import ProfileConfig
from attunement.risk.definitions import (
    DefinitionError,
    Definitions,
    Factor,
    TreatmentRoute,
    load_definitions,
)
from attunement.risk.family import (
    Age,
    FamilyError,
    InfantTiming,
    corrected_age,
    family_infants,
    family_schema,
    infant_timing,
    infants_timing,
    load_family,
    validate_family,
)
from attunement.risk.profile import (
    NOTE,
    FactorFinding,
    Profile,
    ProfileChange,
    Prompt,
    RuleFired,
    Treatment,
    check_context,
    profile,
    profile_change,
)

__all__ = [
    "NOTE",
    "Age",
    "DefinitionError",
    "Definitions",
    "Factor",
    "FactorFinding",
    "FamilyError",
    "InfantTiming",
    "Profile",
    "ProfileChange",
    "ProfileConfig",
    "Prompt",
    "RuleFired",
    "Treatment",
    "TreatmentRoute",
    "check_context",
    "corrected_age",
    "family_infants",
    "family_schema",
    "infant_timing",
    "infants_timing",
    "load_definitions",
    "load_family",
    "profile",
    "profile_change",
    "validate_family",
]
