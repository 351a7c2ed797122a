"""Synthetic demo families and a printed walk-through: scores and flags -> profile -> matches.

Every family here is invented ("Demo Family A" ...). Together they cover every tier, the urgent
overlay, each pathway, foster, adoptive and kinship placements, a single carer, a parent with
severe mental illness, a father and a co-parent as screened caregivers, and one family seen at two
time points. Responses are item scores in item order, as in the family-file format.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

# Item-score vectors, named for what they show (checked by tests/test_demo.py through the scorer).
EPDS_LOW = [0, 0, 1, 1, 0, 1, 0, 0, 0, 0]  # total 3
EPDS_HIGH = [1, 1, 2, 2, 2, 2, 2, 2, 1, 0]  # total 15, no self-harm
EPDS_SELF_HARM = [1, 1, 2, 2, 1, 2, 1, 1, 1, 1]  # total 13, item 10 = 1
PHQ9_LOW = [0, 1, 1, 1, 0, 0, 0, 0, 0]  # total 3
PHQ9_MODERATE_ITEM9 = [2, 2, 2, 2, 1, 2, 1, 1, 1]  # total 14, item 9 = 1
GAD7_HIGH = [2, 2, 2, 2, 1, 1, 2]  # total 12
GAD7_LOW = [1, 0, 1, 0, 0, 0, 0]  # total 2
OSSS3_POOR = [1, 3, 2]  # total 6 (poor)
OSSS3_STRONG = [4, 5, 4]  # total 13 (strong)
ACE_HIGH = [1, 1, 0, 1, 0, 1, 1, 0, 0, 0]  # 5
ACE_LOW = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]  # 1
KPCS_LOW = [2, 2, 2, 3, 2, 2, 3, 2, 2, 2, 3, 2, 2, 3, 3]  # total 35 (low confidence)
# PBQ (2006 order): scale 1 items 1,2,6,7,8,9,10,12,13,15,16,17; scale 2 items 3,4,5,11,14,21,23.
PBQ_LOW = [0] * 25
PBQ_IMPAIRED = [2, 2, 1, 0, 1, 2, 2, 2, 2, 2, 1, 2, 2, 0, 2, 2, 1, 0, 1, 0, 1, 0, 0, 0, 1]


def _iso(d: dt.date) -> str:
    return d.isoformat()


def _carer(cid: str, role: str, age: int, first_time_parent: bool, responses: dict[str, Any],
           context: dict[str, bool] | None = None) -> dict[str, Any]:
    """One caregiver in the family-file format (``context`` only when given)."""
    out: dict[str, Any] = {"id": cid, "role": role, "age": age,
                           "first_time_parent": first_time_parent}
    if context is not None:
        out["context"] = context
    return {**out, "responses": responses}


def _family(letter: str, time_point: str, assessed_on: str, infant: dict[str, Any],
            placement: str = "birth_family", *, caregivers: list[dict[str, Any]],
            context: dict[str, bool] | None = None) -> dict[str, Any]:
    """One synthetic family in the family-file format, named ``Demo Family <letter>``."""
    out: dict[str, Any] = {"family_id": f"Demo Family {letter}", "time_point": time_point,
                           "assessed_on": assessed_on, "infant": infant, "placement": placement}
    if context is not None:
        out["context"] = context
    return {**out, "caregivers": caregivers}


def synthetic_families(seed: int = 7) -> list[dict[str, Any]]:
    """A handful of clearly synthetic families in the family-file format.

    Parameters
    ----------
    seed : int
        Shifts every date by the same seeded number of days, so ages and gestations (and
        hence every profile and match) are the same for any seed.

    Returns
    -------
    list of dict
        Ten family files (nine families, one of them seen twice), each with ``family_id``,
        ``assessed_on``, ``infant``, ``placement`` and ``caregivers`` with item responses.

    Examples
    --------
    >>> families = synthetic_families()
    >>> len(families), families[0]["family_id"], families[0]["time_point"]
    (10, 'Demo Family A', 'antenatal (24 weeks)')
    >>> families[0]["caregivers"][0]["responses"]["epds"]
    [0, 0, 1, 1, 0, 1, 0, 0, 0, 0]
    """
    rng = random.Random(seed)
    today = dt.date(2025, 1, 6) + dt.timedelta(days=rng.randrange(0, 365))

    def ago(days: int) -> str:
        return _iso(today - dt.timedelta(days=days))

    def due_in(gestation_weeks: int) -> str:
        return _iso(today + dt.timedelta(days=280 - gestation_weeks * 7))

    a_due = due_in(24)

    def a_context() -> dict[str, bool]:
        return {"socioeconomic_disadvantage": False, "domestic_violence": False}

    def a_father() -> dict[str, Any]:
        return _carer("A-F", "birth_father", 33, True, {"phq9": PHQ9_LOW})

    return [
        # A: universal in pregnancy, then early interaction concern at 4 months (two time points).
        _family("A", "antenatal (24 weeks)", _iso(today), {"due_date": a_due}, context=a_context(),
                caregivers=[_carer("A-M", "birth_mother", 31, True,
                                   {"epds": EPDS_LOW, "gad7": GAD7_LOW, "osss3": OSSS3_STRONG}),
                            a_father()]),
        _family("A", "4 months", _iso(dt.date.fromisoformat(a_due) + dt.timedelta(days=125)),
                {"date_of_birth": a_due, "gestational_age_at_birth_weeks": 40}, context=a_context(),
                caregivers=[_carer("A-M", "birth_mother", 31, True,
                                   {"epds": EPDS_HIGH, "pbq": PBQ_LOW, "kpcs": KPCS_LOW}),
                            a_father()]),
        # B: antenatal risk - young first-time parents, poor support, low income.
        _family("B", "antenatal (22 weeks)", _iso(today), {"due_date": due_in(22)},
                context={"socioeconomic_disadvantage": True},
                caregivers=[_carer("B-M", "birth_mother", 18, True,
                                   {"epds": EPDS_LOW, "osss3": OSSS3_POOR}),
                            _carer("B-F", "birth_father", 20, True, {"phq9": PHQ9_LOW})]),
        # C: foster placement, single carer.
        _family("C", "9 months", _iso(today), {"date_of_birth": ago(280)}, "foster",
                context={"single_carer": True},
                caregivers=[_carer("C-FC", "foster_carer", 52, False,
                                   {"kpcs": [3] * 15, "osss3": OSSS3_STRONG})]),
        # D: birth mother with bipolar disorder in a psychiatric mother-and-baby unit (specialist).
        _family("D", "8 weeks", _iso(today), {"date_of_birth": ago(56)}, caregivers=[
            _carer("D-M", "birth_mother", 29, True, {"epds": EPDS_HIGH, "pbq": PBQ_LOW},
                   context={"severe_mental_illness": True, "psychiatric_mother_baby_unit": True}),
            _carer("D-F", "birth_father", 30, True, {"phq9": PHQ9_LOW, "gad7": GAD7_HIGH},
                   context={"partner_relationship_difficulty": False}),
        ]),
        # E: a co-parent (the screened caregiver) reports thoughts of self-harm -> urgent.
        _family("E", "6 weeks", _iso(today), {"date_of_birth": ago(45)}, caregivers=[
            _carer("E-M", "birth_mother", 35, True, {"epds": EPDS_LOW}),
            _carer("E-P", "co_parent", 34, True, {"epds": EPDS_SELF_HARM, "gad7": GAD7_HIGH}),
        ]),
        # F: bonding difficulty with domestic violence and low support; clinical referral (specialist).
        _family("F", "12 months", _iso(today), {"date_of_birth": ago(370)},
                context={"domestic_violence": True, "clinical_referral": True,
                         "trauma_exposure": True},
                caregivers=[_carer("F-M", "birth_mother", 26, False,
                                   {"pbq": PBQ_IMPAIRED, "osss3": OSSS3_POOR, "epds": EPDS_LOW})]),
        # G: adoptive parents; one with high childhood adversity.
        _family("G", "14 months", _iso(today), {"date_of_birth": ago(430)}, "adoptive", caregivers=[
            _carer("G-P1", "adoptive_parent", 41, True, {"ace": ACE_HIGH, "phq9": PHQ9_LOW}),
            _carer("G-P2", "adoptive_parent", 39, True, {"ace": ACE_LOW, "gad7": GAD7_LOW}),
        ]),
        # H: kinship care with child-protection involvement and a current safeguarding concern.
        _family("H", "20 months", _iso(today), {"date_of_birth": ago(610)}, "kinship",
                context={"child_protection_involvement": True, "safeguarding_concern": True,
                         "stressful_life_events": True},
                caregivers=[_carer("H-G", "kinship_carer", 58, False,
                                   {"phq9": PHQ9_MODERATE_ITEM9, "osss3": OSSS3_POOR})]),
        # I: a mother in a prison mother-and-baby unit and in addiction treatment.
        _family("I", "11 months", _iso(today), {"date_of_birth": ago(345)},
                context={"single_carer": True, "socioeconomic_disadvantage": True},
                caregivers=[_carer("I-M", "birth_mother", 24, False,
                                   {"epds": EPDS_LOW, "ace": ACE_HIGH},
                                   context={"prison_mother_baby_unit": True,
                                            "in_addiction_treatment": True})]),
    ]


def print_screening_demo(console: Any | None = None) -> None:
    """Print, for every synthetic family: scores and flags, the profile with reasons, the matches.

    ``attunement demo`` prints this walk-through of the screening pipeline on invented
    families before it serves its demo database; it needs no database itself.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where to print; the terminal when omitted.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> screen = Console(file=io.StringIO(), width=100)
    >>> print_screening_demo(screen)
    >>> text = screen.file.getvalue()
    >>> "Demo Family I" in text and "Matched interventions (best first)" in text
    True
    """
    from rich.console import Console
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    from attunement.interventions import match
    from attunement.risk import profile, profile_change

    console = console or Console()
    console.print(Rule("attunement screening demo (synthetic families)"))
    earlier: dict[str, Any] = {}
    for fam in synthetic_families():
        prof = profile(fam)
        console.print(Rule(f"{fam['family_id']} - {fam.get('time_point', fam['assessed_on'])}"))
        scores = Table(title="Scores and flags", expand=False)
        scores.add_column("caregiver")
        scores.add_column("scores", overflow="fold")
        scores.add_column("flags", overflow="fold")
        for cg in prof.caregivers:
            shown = {k: v for k, v in cg.scores.items()
                     if isinstance(v, int | float) and not isinstance(v, bool)}
            scores.add_row(Text(cg.title),
                           Text(", ".join(f"{k}={v:g}" for k, v in shown.items()) or "-"),
                           Text("\n".join(f"[{f['kind']}] {f['label']}" for f in cg.flags) or "-"))
        console.print(scores)
        console.print(prof)
        if fam["family_id"] in earlier:
            change = profile_change(earlier[fam["family_id"]], prof)
            console.print(Text(f"Since the last assessment: {change.describe()}", style="bold cyan"))
        earlier[fam["family_id"]] = prof
        result = match(prof, fam)
        top = Table(title="Matched interventions (best first)", expand=False)
        top.add_column("#", justify="right")
        top.add_column("programme")
        top.add_column("score", justify="right")
        top.add_column("key reasons", overflow="fold")
        top.add_column("evidence", justify="right")
        for rec in result.recommended[:5]:
            key = [r for r in rec.reasons
                   if r.startswith(("pathway", "mechanism", "meets", "designed"))] or rec.reasons[1:3]
            top.add_row(str(rec.rank), Text(rec.short_name), str(rec.score), Text("\n".join(key[:3])),
                        f"{rec.evidence['strength']}/5")
        console.print(top)
        console.print(Text(f"{len(result.excluded)} programmes not eligible; "
                           f"`attunement match FAMILY` lists why. {result.note}", style="dim"))
