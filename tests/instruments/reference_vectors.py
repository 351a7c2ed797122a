"""Worked test vectors, hand-scored from each instrument's published scoring instructions
(the sources cited in ``src/attunement/instruments/definitions/*.yaml``).

Positions are 1-based options as printed on the form. Where the reference lists keyed item
scores they are given here; otherwise the scores are derived with ``reference_key`` below, which
restates the reference's keying rules independently of the bundled YAML.
"""

from __future__ import annotations

from fractions import Fraction

Y, N = True, False

# -- keying rules, restated from the published scoring keys (not read from the YAML) -----------
PBQ_POSITIVE = {1, 4, 8, 9, 11, 16, 22, 25}
MAAS_HIGH_FIRST = {1, 3, 5, 6, 7, 9, 10, 12, 15, 16, 18}
MPAS_K = {1: 5, 2: 5, 3: 5, 9: 5, 11: 5, 13: 5, 14: 5, 8: 2, 12: 2,
          **{i: 4 for i in (4, 5, 6, 7, 10, 15, 16, 17, 18, 19)}}
MPAS_REVERSED = {7, 8, 9, 10, 11, 12, 13, 14}


def reference_key(instrument: str, item: int, position: int) -> float:
    p = position
    if instrument == "epds":
        return p - 1 if item in (1, 2, 4) else 4 - p
    if instrument in ("phq9", "gad7"):
        return p - 1
    if instrument in ("whooley", "ace"):
        return 1 if p == 1 else 0  # position 1 = yes
    if instrument == "pbq":
        return p - 1 if item in PBQ_POSITIVE else 6 - p
    if instrument == "maas":
        return 6 - p if item in MAAS_HIGH_FIRST else p
    if instrument == "mpas":
        k = MPAS_K[item]
        q = k + 1 - p if item in MPAS_REVERSED else p
        return float(1 + Fraction(4 * (q - 1), k - 1))
    if instrument == "prfq":
        return 8 - p if item in (11, 18) else p
    if instrument == "kpcs":
        return 2 if p == 5 else p - 1  # position 5 = not applicable (items 1 and 9)
    if instrument == "osss3":
        return p
    raise KeyError(instrument)


def keyed(instrument: str, positions: list[int | None]) -> list[float | None]:
    return [None if p is None else reference_key(instrument, i, p)
            for i, p in enumerate(positions, start=1)]


# -- vectors: (instrument, vector id, positions, listed item scores or None, expected, options) --
# expected maps output columns to values; options may hold thresholds / variant.
VECTORS: list[tuple[str, str, list, list | None, dict, dict]] = []


def add(instrument, vid, positions, scores, expected, **options):
    VECTORS.append((instrument, vid, positions, scores, expected, options))


# EPDS (section 1)
def _epds(vid, pos, scores, total, anx, flag, ge10, ge11, ge13, anx5=None):
    exp = {"epds_total": total, "epds_anxiety": anx, "epds_self_harm": int(flag),
           "epds_possible_depression": ge10, "epds_probable_depression": ge13}
    add("epds", vid, pos, scores, exp)
    add("epds", vid + "≥11", pos, scores, {"epds_possible_depression": ge11},
        thresholds={"epds_possible_depression": 11})
    if anx5 is not None:
        add("epds", vid + "-3A≥5", pos, scores, {"epds_possible_anxiety": anx5[0]},
            thresholds={"epds_possible_anxiety": 5})
        add("epds", vid + "-3A≥6", pos, scores, {"epds_possible_anxiety": anx5[1]})


_epds("E1", [1] * 10, [0, 0, 3, 0, 3, 3, 3, 3, 3, 3], 21, 6, Y, Y, Y, Y)
_epds("E2", [1, 1, 4, 1, 4, 4, 4, 4, 4, 4], [0] * 10, 0, 0, N, N, N, N)
_epds("E3", [4, 4, 1, 4, 1, 1, 1, 1, 1, 1], [3] * 10, 30, 9, Y, Y, Y, Y)
_epds("E4", [2, 2, 2, 3, 3, 2, 3, 3, 3, 4], [1, 1, 2, 2, 1, 2, 1, 1, 1, 0], 12, 5, N, Y, Y, N,
      anx5=(Y, N))
_epds("E5", [1, 1, 4, 1, 4, 4, 4, 4, 4, 3], [0] * 9 + [1], 1, 0, Y, N, N, N)


# PHQ-9 / GAD-7 (section 2): position = score + 1
def _phq(vid, scores, total, band, phq2, ge3, ge2, flag):
    pos = [s + 1 for s in scores]
    add("phq9", vid, pos, scores, {"phq9_total": total, "phq9_severity": band, "phq9_phq2": phq2,
                                   "phq9_phq2_positive": ge3, "phq9_self_harm": int(flag),
                                   "phq9_possible_depression": total >= 10})
    add("phq9", vid + "-phq2≥2", pos, scores, {"phq9_phq2_positive": ge2},
        thresholds={"phq9_phq2_positive": 2})


_phq("P1", [0] * 9, 0, "minimal", 0, N, N, N)
_phq("P2", [3] * 9, 27, "severe", 6, Y, Y, Y)
_phq("P3", [2, 1, 1, 2, 0, 1, 1, 0, 1], 9, "mild", 3, Y, Y, Y)
_phq("P4", [2, 2, 1, 1, 1, 1, 1, 1, 0], 10, "moderate", 4, Y, Y, N)


def _gad(vid, scores, total, band, gad2, pos2):
    add("gad7", vid, [s + 1 for s in scores], scores,
        {"gad7_total": total, "gad7_severity": band, "gad7_gad2": gad2,
         "gad7_gad2_positive": pos2, "gad7_possible_anxiety": total >= 10})


_gad("G1", [0] * 7, 0, "minimal", 0, N)
_gad("G2", [3] * 7, 21, "severe", 6, Y)
_gad("G3", [1, 2, 1, 1, 0, 0, 0], 5, "mild", 3, Y)
_gad("G4", [2, 1, 2, 2, 1, 1, 1], 10, "moderate", 3, Y)

# Whooley (section 3): position 1 = yes, 2 = no; the help question is item 3 (optional)
add("whooley", "W1", [2, 2], None, {"whooley_positive": 0, "whooley_positive_screen": N})
add("whooley", "W2", [1, 2], None, {"whooley_positive": 1, "whooley_positive_screen": Y})
add("whooley", "W3", [2, 1, 1], None, {"whooley_positive": 1, "whooley_positive_screen": Y})
add("whooley", "W4", [1, 1, 2], None, {"whooley_positive": 1, "whooley_positive_screen": Y})


# PBQ (section 4), 2006 item order
def _pbq(vid, pos, scores, total, s1, s2, s3, s4, flags, review, **options):
    names = ["impaired_bonding", "rejection_anger", "infant_anxiety", "incipient_abuse"]
    exp = {"pbq_total": total, "pbq_impaired_bonding": s1, "pbq_rejection_anger": s2,
           "pbq_infant_anxiety": s3, "pbq_incipient_abuse": s4, "pbq_harm_review": int(review)}
    exp.update({f"pbq_{n}_high": f for n, f in zip(names, flags, strict=True)})
    add("pbq", vid, pos, scores, exp, **options)


B1 = [1, 6, 6, 1, 6, 6, 6, 1, 1, 6, 1, 6, 6, 6, 6, 1, 6, 6, 6, 6, 6, 1, 6, 6, 1]
B3 = [6 if i in PBQ_POSITIVE else 1 for i in range(1, 26)]
B4 = [4, 5, 6, 2, 6, 5, 5, 4, 4, 5, 2, 5, 5, 6, 5, 4, 5, 6, 3, 6, 4, 2, 6, 6, 2]
B4_SCORES = [3, 1, 0, 1, 0, 1, 1, 3, 3, 1, 1, 1, 1, 0, 1, 3, 1, 0, 3, 0, 2, 1, 0, 0, 1]
B5 = list(B1)
B5[17] = B5[23] = 5
_pbq("B1", B1, [0] * 25, 0, 0, 0, 0, 0, (N, N, N, N), N)
_pbq("B2", [1] * 25, None, 85, 40, 25, 10, 10, (Y, Y, Y, Y), Y)
_pbq("B2-2001", [1] * 25, None, 85, 40, 25, 10, 10, (Y, Y, Y, Y), Y, variant="cutoffs_2001")
_pbq("B3", B3, [5] * 25, 125, 60, 35, 20, 10, (Y, Y, Y, Y), Y)
_pbq("B4", B4, B4_SCORES, 29, 20, 4, 5, 0, (Y, N, N, N), N)
_pbq("B5", B5, None, 2, 0, 0, 0, 2, (N, N, N, Y), Y)
_pbq("B5-2001", B5, None, 2, 0, 0, 0, 2, (N, N, N, N), Y, variant="cutoffs_2001")

# PBQ 2001 printed order: "irritated by baby" is 2001 item 8 (2006 item 10); the rest unchanged,
# so 2001 items 8, 9, 10 hold 2006 items 10, 8, 9.
ORDER_2001 = [1, 2, 3, 4, 5, 6, 7, 10, 8, 9, *range(11, 26)]
B4_2001 = [B4[c - 1] for c in ORDER_2001]
_pbq("B4-order2001", B4_2001, None, 29, 20, 4, 5, 0, (Y, N, N, N), N, variant="order_2001")

# MPAS (section 5a)
M1 = [(MPAS_K[i] if i in MPAS_REVERSED else 1) for i in range(1, 20)]
M2 = [(1 if i in MPAS_REVERSED else MPAS_K[i]) for i in range(1, 20)]
M4 = [4, 5, 4, 3, 4, 3, 2, 1, 2, 1, 1, 2, 2, 3, 4, 4, 2, 4, 3]
M4_SCORES = [4, 5, 4, 11 / 3, 5, 11 / 3, 11 / 3, 5, 4, 5, 5, 1, 4, 3, 5, 5, 7 / 3, 5, 11 / 3]


def _mpas(vid, pos, scores, total, qoa, aoh, pi, **options):
    add("mpas", vid, pos, scores, {"mpas_total": total, "mpas_quality": qoa,
                                   "mpas_absence_of_hostility": aoh,
                                   "mpas_pleasure_in_interaction": pi}, **options)


_mpas("M1", M1, None, 19, 9, 5, 5)
_mpas("M2", M2, None, 95, 45, 25, 25)
_mpas("M3", [1] * 19, None, 51, 21, 5, 25)
_mpas("M4", M4, M4_SCORES, 77, 36.667, 21.333, 19)
M4_MANUAL = [4, 5, 4, 3.6, 5, 3.6, 3.6, 5, 4, 5, 5, 1, 4, 3, 5, 5, 2.3, 5, 3.6]
_mpas("M4-manual", M4, M4_MANUAL, 76.7, 36.4, 21.3, 19, variant="manual_rounded")

# MAAS (section 5b)
A2 = [5 if i in MAAS_HIGH_FIRST else 1 for i in range(1, 20)]
A3 = [1 if i in MAAS_HIGH_FIRST else 5 for i in range(1, 20)]
A4 = [2, 4, 1, 3, 3, 2, 1, 2, 1, 3, 5, 1, 4, 5, 1, 1, 2, 2, 5]
A4_SCORES = [4, 4, 5, 3, 3, 4, 5, 2, 5, 3, 5, 5, 4, 5, 5, 5, 2, 4, 5]
add("maas", "A1", [1] * 19, None, {"maas_total": 63, "maas_quality": 38, "maas_intensity": 20})
add("maas", "A2", A2, [1] * 19, {"maas_total": 19, "maas_quality": 10, "maas_intensity": 8,
                                 # local review policy: item 12 ≤ 2, item 19 ≤ 2
                                 "maas_harm_urge_review": 1, "maas_loss_feelings_review": 1})
add("maas", "A3", A3, [5] * 19, {"maas_total": 95, "maas_quality": 50, "maas_intensity": 40,
                                 "maas_harm_urge_review": 0, "maas_loss_feelings_review": 0})
add("maas", "A4", A4, A4_SCORES, {"maas_total": 78, "maas_quality": 46, "maas_intensity": 27})

# PRFQ (section 6)
add("prfq", "R1", [1] * 18, None, {"prfq_pre_mentalizing": 1.0, "prfq_certainty": 2.0,
                                   "prfq_interest_curiosity": 2.0})
add("prfq", "R2", [7] * 18, None, {"prfq_pre_mentalizing": 7.0, "prfq_certainty": 6.0,
                                   "prfq_interest_curiosity": 6.0})
add("prfq", "R3", [4] * 18, None, {"prfq_pre_mentalizing": 4.0, "prfq_certainty": 4.0,
                                   "prfq_interest_curiosity": 4.0})
add("prfq", "R4", [2, 5, 6, 1, 4, 7, 2, 5, 6, 1, 3, 6, 2, 5, 7, 3, 4, 2], None,
    {"prfq_pre_mentalizing": 11 / 6, "prfq_certainty": 28 / 6, "prfq_interest_curiosity": 38 / 6})


# ACE (section 8): position 1 = yes
def _ace(vid, yes, total, abuse, neglect, household, high):
    pos = [1 if i in yes else 2 for i in range(1, 11)]
    add("ace", vid, pos, None, {"ace_total": total, "ace_abuse": abuse, "ace_neglect": neglect,
                                "ace_household": household, "ace_high_adversity": high,
                                "ace_any_adversity": total >= 1})


_ace("C1", set(), 0, 0, 0, 0, N)
_ace("C2", set(range(1, 11)), 10, 3, 2, 5, Y)
_ace("C3", {1, 6, 8}, 3, 1, 0, 2, N)
_ace("C4", {2, 3, 4, 9}, 4, 2, 1, 1, Y)

# KPCS (section 9): position 5 = not applicable on items 1 and 9
K3 = [4] * 15
K3[0] = K3[8] = 5
add("kpcs", "K1", [1] * 15, None, {"kpcs_total": 0, "kpcs_low_confidence": Y})
add("kpcs", "K2", [4] * 15, None, {"kpcs_total": 45, "kpcs_low_confidence": N})
add("kpcs", "K3", K3, None, {"kpcs_total": 43, "kpcs_low_confidence": N})
add("kpcs", "K4", [4] * 12 + [2] * 3, None, {"kpcs_total": 39, "kpcs_low_confidence": Y})
add("kpcs", "K5", [4] * 13 + [2, 1], None, {"kpcs_total": 40, "kpcs_low_confidence": N})

# OSSS-3 (section 10a): scores given; positions equal scores (least support printed first)
for vid, s, total, band in [("S1", [1, 1, 1], 3, "poor"), ("S2", [4, 5, 5], 14, "strong"),
                            ("S3", [2, 4, 3], 9, "moderate"), ("S4", [2, 3, 3], 8, "poor")]:
    add("osss3", vid, s, s, {"osss3_total": total, "osss3_support": band,
                             "osss3_poor_support": band == "poor"})
