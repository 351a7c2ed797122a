"""Family builders for the matching and CLI tests (synthetic families only)."""

from __future__ import annotations

import copy
from typing import Any


def family(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "family_id": "MATCH-VIGNETTE",
        "assessed_on": "2025-06-02",
        "infant": {"date_of_birth": "2024-09-02"},  # 9 completed months
        "placement": "birth_family",
        "context": {},
        "caregivers": [{"id": "M", "role": "birth_mother", "age": 30, "first_time_parent": True}],
    }
    base.update(copy.deepcopy(overrides))
    return base


def carer(cid: str = "M", role: str = "birth_mother", age: int = 30, **kw: Any) -> dict[str, Any]:
    return {"id": cid, "role": role, "age": age, "first_time_parent": True, **kw}
