"""A plain per-caregiver loop of the cascade rules (the first, slow implementation), kept as
the reference the vectorised :func:`attunement.cascade.compute_cascade` is checked against."""

from __future__ import annotations

from typing import Any

import pandas as pd

from attunement.cascade import REFERRAL_DATES, reliable_improvement


def naive_per_caregiver(caregivers: pd.DataFrame, assessments: pd.DataFrame,
                        referrals: pd.DataFrame, rules: dict, window_days: int = 30
                        ) -> dict[Any, dict[str, Any]]:
    """Caregiver → stage flags and dates; inputs already have Timestamp date columns."""
    window = pd.Timedelta(days=window_days)
    out = {}
    for key in caregivers["caregiver"]:
        a = assessments[assessments["caregiver"] == key]
        r = referrals[referrals["caregiver"] == key]
        pos = a.loc[a["positive"], "completed_on"]
        positive_on = pos.min() if len(pos) else pd.NaT
        row: dict[str, Any] = {"screened": len(a) > 0, "positive": pd.notna(positive_on),
                               "referred": False, "engaged": False, "completed": False,
                               "improved": False, "followed_up": False,
                               "positive_on": positive_on, "referred_on": pd.NaT,
                               "engaged_on": pd.NaT, "completed_on": pd.NaT}
        if row["positive"]:
            after = r[r["offered_on"] >= positive_on]
            if len(after):
                row["referred"], row["referred_on"] = True, after["offered_on"].min()
                engaged = after[after["first_session_on"].notna()]
                if len(engaged):
                    row["engaged"] = True
                    row["engaged_on"] = engaged["first_session_on"].min()
                    done = engaged[engaged["completed_on"].notna()]
                    if len(done):
                        first = done.sort_values("completed_on", kind="stable").iloc[0]
                        row["completed"], row["completed_on"] = True, first["completed_on"]
                        changes = reliable_improvement(a, first["offered_on"], rules)
                        row["improved"] = any(c["improved"] for c in changes)
            later = a[(a["completed_on"] > positive_on)
                      & (a["completed_on"] <= positive_on + window)]
            dates = r[list(REFERRAL_DATES)].stack()
            near = dates[(dates >= positive_on) & (dates <= positive_on + window)]
            row["followed_up"] = len(later) > 0 or len(near) > 0
        out[key] = row
    return out
