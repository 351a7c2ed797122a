"""A seeded service for the care cascade, with its stages counted by hand.

Ten families across two sites; each caregiver's screens, referrals, stages and repeat scores
are below, and ``EXPECTED_*`` are the counts worked out by hand from them (not by the code
under test). Dates are in 2026. EPDS positive = a total of 10 or more (the cut-off flag),
PHQ-9 and GAD-7 positive = 10 or more; item 10/9 (self-harm) is always 0 here.

Site A
  F1  mother  EPDS 15 (09-01); talking_therapies offered 09-05, accepted 09-06, first session
              09-12, completed 10-20; EPDS 8 (10-25): -7 >= 4, reliable improvement.
      father  never screened.
  F2  mother  EPDS 14 (09-01); programme abc offered 09-10, accepted 09-11, first session 09-20,
              completed 11-01; EPDS 12 (11-05): -2, not improved.
      father  EPDS 5 (09-01), negative.
  F3  mother  EPDS 12 (09-01); gp offered 09-03, declined 09-04; EPDS 11 (09-20).
  F4  mother  EPDS 16 (09-01); no referral; EPDS 16 again 11-15 (75 days: not a follow-up).
  F5  mother  EPDS 3 (09-01), negative; a gp referral offered 09-02 (not after a positive
              screen, so it is not in the cascade).
Site B
  F6  mother  PHQ-9 15 (09-02); perinatal_mental_health offered 09-30 (28 days), accepted
              10-01, first session 10-07, ended 10-21 (moved away).
  F7  mother  EPDS 13 (09-02); FAMILY referral to mellow_babies offered 10-15 (43 days),
              accepted 10-16, first session 10-20, completed 11-20; EPDS 6 (11-25): improved.
      father  EPDS 11 (09-02); the family referral counts for him too; no later score.
  F8  mother  GAD-7 12 (09-03); GAD-7 7 (09-25, 22 days: a follow-up); no referral.
  F9  co_parent EPDS 9 (09-03), negative.
  F10 mother and father never screened.
"""

from __future__ import annotations

from typing import Any

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families

SITE_A, SITE_B = "Site A", "Site B"

# family code -> site, context, caregivers (id, role, age)
FAMILIES: dict[str, dict[str, Any]] = {
    "F1": {"site": SITE_A, "context": {"socioeconomic_disadvantage": True},
           "caregivers": [("mother", "birth_mother", 30), ("father", "birth_father", None)]},
    "F2": {"site": SITE_A, "context": {"socioeconomic_disadvantage": False},
           "caregivers": [("mother", "birth_mother", 31), ("father", "birth_father", None)]},
    "F3": {"site": SITE_A, "context": {},
           "caregivers": [("mother", "birth_mother", 32)]},
    "F4": {"site": SITE_A, "context": {},
           "caregivers": [("mother", "birth_mother", 19)]},
    "F5": {"site": SITE_A, "context": {},
           "caregivers": [("mother", "birth_mother", 33)]},
    "F6": {"site": SITE_B, "context": {"socioeconomic_disadvantage": True},
           "caregivers": [("mother", "birth_mother", 28)]},
    "F7": {"site": SITE_B, "context": {},
           "caregivers": [("mother", "birth_mother", 27), ("father", "birth_father", None)]},
    "F8": {"site": SITE_B, "context": {},
           "caregivers": [("mother", "birth_mother", 41)]},
    "F9": {"site": SITE_B, "context": {},
           "caregivers": [("parent", "co_parent", 35)]},
    "F10": {"site": SITE_B, "context": {},
            "caregivers": [("mother", "birth_mother", 24), ("father", "birth_father", None)]},
}

# (family, caregiver, instrument, total, completed_on)
ASSESSMENTS = [
    ("F1", "mother", "epds", 15, "2026-09-01"),
    ("F1", "mother", "epds", 8, "2026-10-25"),
    ("F2", "mother", "epds", 14, "2026-09-01"),
    ("F2", "mother", "epds", 12, "2026-11-05"),
    ("F2", "father", "epds", 5, "2026-09-01"),
    ("F3", "mother", "epds", 12, "2026-09-01"),
    ("F3", "mother", "epds", 11, "2026-09-20"),
    ("F4", "mother", "epds", 16, "2026-09-01"),
    ("F4", "mother", "epds", 16, "2026-11-15"),
    ("F5", "mother", "epds", 3, "2026-09-01"),
    ("F6", "mother", "phq9", 15, "2026-09-02"),
    ("F7", "mother", "epds", 13, "2026-09-02"),
    ("F7", "mother", "epds", 6, "2026-11-25"),
    ("F7", "father", "epds", 11, "2026-09-02"),
    ("F8", "mother", "gad7", 12, "2026-09-03"),
    ("F8", "mother", "gad7", 7, "2026-09-25"),
    ("F9", "parent", "epds", 9, "2026-09-03"),
]

# (family, caregiver or None for the family, kind, target, offered_on, [(stage, on, reason)])
REFERRALS = [
    ("F1", "mother", "route", "talking_therapies", "2026-09-05",
     [("accepted", "2026-09-06", None), ("started", "2026-09-12", None),
      ("completed", "2026-10-20", None)]),
    ("F2", "mother", "programme", "abc", "2026-09-10",
     [("accepted", "2026-09-11", None), ("started", "2026-09-20", None),
      ("completed", "2026-11-01", None)]),
    ("F3", "mother", "route", "gp", "2026-09-03",
     [("declined", "2026-09-04", "prefers to wait SECRET-DECLINE")]),
    ("F5", "mother", "route", "gp", "2026-09-02", []),
    ("F6", "mother", "route", "perinatal_mental_health_team", "2026-09-30",
     [("accepted", "2026-10-01", None), ("started", "2026-10-07", None),
      ("ended", "2026-10-21", "moved away SECRET-END")]),
    ("F7", None, "programme", "mellow_babies", "2026-10-15",
     [("accepted", "2026-10-16", None), ("started", "2026-10-20", None),
      ("completed", "2026-11-20", None)]),
]

STAGE_NAMES = ("screened", "positive", "referred", "engaged", "completed", "improved")
# counted by hand from the table above
EXPECTED_STAGES = {
    SITE_A: dict(zip(STAGE_NAMES, (6, 4, 3, 2, 2, 1), strict=True)),
    SITE_B: dict(zip(STAGE_NAMES, (5, 4, 3, 3, 2, 1), strict=True)),
    "All sites": dict(zip(STAGE_NAMES, (11, 8, 6, 5, 4, 2), strict=True)),
}
# median days: positive->referred, referred->engaged, engaged->completed
EXPECTED_DAYS = {
    SITE_A: (4.0, 8.5, 40.0),      # [4, 9, 2]; [7, 10]; [38, 42]
    SITE_B: (43.0, 5.0, 31.0),     # [28, 43, 43]; [7, 5, 5]; [31, 31]
    "All sites": (18.5, 7.0, 34.5),  # [2,4,9,28,43,43]; [5,5,7,7,10]; [31,31,38,42]
}
# 30-day follow-up after a positive screen: (positive, followed up, rate %)
EXPECTED_FOLLOW_UP = {
    SITE_A: (4, 3, 75.0),  # F1, F2, F3 yes; F4 no
    SITE_B: (4, 2, 50.0),  # F6, F8 yes; F7 mother and father no
    "All sites": (8, 5, 62.5),
}
# equity rows: (dimension, group) -> (registered, screened, coverage %, positive, referred,
# engaged)
EXPECTED_EQUITY = {
    ("role", "birth_mother"): (9, 8, 88.9, 7, 5, 4),
    ("role", "birth_father"): (4, 2, 50.0, 1, 1, 1),
    ("role", "co_parent"): (1, 1, 100.0, 0, 0, 0),
    ("age_band", "under 20"): (1, 1, 100.0, 1, 0, 0),
    ("age_band", "not recorded"): (4, 2, 50.0, 1, 1, 1),
    ("deprivation", "socio-economic disadvantage"): (3, 2, 66.7, 2, 2, 2),
    ("language", "not recorded"): (14, 11, 78.6, 8, 6, 5),
}


def epds_responses(total: int) -> list[int]:
    """Ten EPDS item scores adding up to ``total`` with item 10 (self-harm) at 0."""
    return [*_spread(total, 9), 0]


def responses(instrument: str, total: int) -> list[int]:
    n = {"epds": 9, "phq9": 8, "gad7": 7}[instrument]
    items = _spread(total, n)
    return [*items, 0] if instrument in ("epds", "phq9") else items


def _spread(total: int, n: int) -> list[int]:
    assert 0 <= total <= 3 * n
    out = [total // n] * n
    for i in range(total % n):
        out[i] += 1
    return out


def family_payload(code: str) -> dict[str, Any]:
    spec = FAMILIES[code]
    carers = []
    for key, role, age in spec["caregivers"]:
        c: dict[str, Any] = {"id": key, "role": role}
        if age is not None:
            c["age"] = age
        carers.append(c)
    return {"site": spec["site"], "family_id": code, "assessed_on": "2026-08-01",
            "infant": {"due_date": "2026-08-20"}, "placement": "birth_family",
            "context": dict(spec["context"]), "caregivers": carers}


def seed(store: Any, actor: Any) -> dict[str, int]:
    """Register the families, assessments, referrals and stages through the store; returns
    family code -> family id."""
    from attunement.usecases import referrals as uc_referrals

    ids = {code: uc_families.register_family(store, actor, family_payload(code))["id"] for code in FAMILIES}
    for code, cg, instrument, total, on in ASSESSMENTS:
        uc_assessments.submit_assessment(store, actor, ids[code], cg, instrument, f"t{on}",
                             responses(instrument, total), completed_on=on)
    for code, cg, kind, target, offered, stages in REFERRALS:
        r = uc_referrals.add_referral(store, actor, ids[code], kind=kind, target=target,
                                      offered_on=offered, caregiver=cg)
        for stage, on, reason in stages:
            uc_referrals.record_stage(store, actor, r["id"], stage, on=on, reason=reason)
    return ids


def tables() -> tuple[Any, Any, Any]:
    """The same service as plain tables, written directly (no store, no scoring code):
    what :func:`attunement.cascade.compute_cascade` takes."""
    import pandas as pd

    cgs, rows_a, rows_r = [], [], []
    for code, spec in FAMILIES.items():
        for key, role, age in spec["caregivers"]:
            dep = spec["context"].get("socioeconomic_disadvantage")
            cgs.append({"caregiver": f"{code}/{key}", "site": spec["site"], "role": role,
                        "age": age, "language": None,
                        "deprivation": None if dep is None else (
                            "socio-economic disadvantage" if dep
                            else "no disadvantage recorded")})
    for code, cg, instrument, total, on in ASSESSMENTS:
        rows_a.append({"caregiver": f"{code}/{cg}", "instrument": instrument,
                       "completed_on": on, "score": total, "positive": total >= 10})
    for code, cg, _kind, _target, offered, stages in REFERRALS:
        carers = [cg] if cg else [k for k, _, _ in FAMILIES[code]["caregivers"]]
        dates = {"offered_on": offered}
        names = {"accepted": "accepted_on", "declined": "declined_on",
                 "started": "first_session_on", "completed": "completed_on",
                 "ended": "ended_on"}
        for stage, on, _ in stages:
            dates[names[stage]] = on
        for key in carers:
            rows_r.append({"caregiver": f"{code}/{key}", **dates})
    return pd.DataFrame(cgs), pd.DataFrame(rows_a), pd.DataFrame(rows_r)
