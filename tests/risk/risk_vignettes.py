"""Vignette builders for the profile tests (synthetic families only)."""

from __future__ import annotations

import copy
from typing import Any

# Item-score vectors worked out by hand for each instrument's scoring rules (E1-E5, P1-P4, B1-B5, C1-C4, S1-S4).
EPDS_E2_ZERO = [0] * 10
EPDS_E4_TOTAL12 = [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]
EPDS_TOTAL13 = [1, 1, 2, 2, 1, 2, 1, 2, 1, 0]
EPDS_E5_SELF_HARM_ONLY = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
PHQ9_P1_ZERO = [0] * 9
PHQ9_P3_ITEM9 = [2, 1, 1, 2, 0, 1, 1, 0, 1]
PHQ9_P4_TOTAL10 = [2, 2, 1, 1, 1, 1, 1, 1, 0]
PBQ_B1_ZERO = [0] * 25
# Scale 1 (impaired bonding) = 12 exactly: items 1, 2, 6, 7, 8, 9 at 2 (2006 order).
PBQ_IMPAIRED_12 = [2, 2, 0, 0, 0, 2, 2, 2, 2] + [0] * 16
PBQ_IMPAIRED_11 = [2, 2, 0, 0, 0, 2, 2, 2, 1] + [0] * 16


def pbq_with(**items: int) -> list[int]:
    """PBQ all-zero except the given items, e.g. pbq_with(i18=1)."""
    out = [0] * 25
    for key, value in items.items():
        out[int(key[1:]) - 1] = value
    return out


def family(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "family_id": "VIGNETTE",
        "assessed_on": "2025-06-02",
        "infant": {"date_of_birth": "2025-02-24"},
        "placement": "birth_family",
        "context": {},
        "caregivers": [{"id": "M", "role": "birth_mother", "age": 30, "first_time_parent": True}],
    }
    base.update(copy.deepcopy(overrides))
    return base


def carer(cid: str = "M", role: str = "birth_mother", age: int = 30, **kw: Any) -> dict[str, Any]:
    return {"id": cid, "role": role, "age": age, "first_time_parent": True, **kw}
