"""The risk modules stay small (none over 900 lines) and the profile's public names are still
importable from ``attunement.risk.profile`` after the split into results and urgency."""

from __future__ import annotations

import importlib
from pathlib import Path

import attunement.risk as risk
from attunement.risk import results, urgency

# the package's ``profile`` is the function; the module is reached by its full name
profile_module = importlib.import_module("attunement.risk.profile")


def test_no_risk_module_over_900_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in Path(risk.__file__).parent.glob("*.py")}
    assert not {n: s for n, s in sizes.items() if s > 900}


def test_profile_names_are_the_split_modules_objects() -> None:
    assert profile_module.Profile is results.Profile is risk.Profile
    assert profile_module.ROLE_LABELS is results.ROLE_LABELS
    assert profile_module.REVIEW_KEY == urgency.REVIEW_KEY == "safety_review_completed"
    for name in ("NOTE", "FactorFinding", "Prompt", "RuleFired", "Treatment", "ProfileChange",
                 "check_context", "profile", "profile_change"):
        assert getattr(profile_module, name) is getattr(risk, name)
