"""Matching a family's profile to the intervention catalogue, with reasons and evidence.

Hold (safety first): while the profile has an open urgent flag (``urgency`` same-day or
emergency) and no safety review is recorded (``safety_review_completed``), matching is held:
nothing is recommended, ``held_reason`` says why and what to do first. A recorded review releases
it (family file: ``safety_review_completed: true``; platform: an alert acknowledged with an outcome).

Eligibility (all must hold, else the programme is listed under ``excluded`` with every reason):
the infant's age or gestation is inside the programme's enrolment window (corrected age for an
infant born before 37 weeks, until 2 years of chronological age); the programme is not more
intensive than the profile's tier unless it serves one of the profile's pathways; at least one
caregiver has an eligible role, meets the programme's population requirements and has no
exclusion (the catalogue's own, or one from the programme's trials: "outside its evidence");
enough caregivers for couple programmes; the service offers it (``offered``); and the protective
exclusions: no couples' or co-parenting programme where domestic abuse is recorded, no outpatient
group programme for an inpatient (psychiatric mother-and-baby unit) or while an urgent flag is open.

Evidence fit: a programme is in evidence when the infant's (corrected) age is inside the ages it
was tested at and at least one eligible caregiver has a role and setting its trials included
(``trial_population``). Otherwise it is listed in the "off-evidence" tier, clearly marked, with
what lies outside the evidence.

Ranking rule (lexicographic, shown in ``ranking`` for every recommendation): in-evidence before
off-evidence; then evidence strength (5 to 1 on the catalogue's rubric); then fit points (tier +2
when the programme serves the profile's tier; pathway +3 when it serves one of the profile's
pathways; mechanism +1 per factor present that its mechanism suits, at most +3; population +2 when
it was designed for a specific population the family is in); then catalogue order. Fit points
only order programmes of equal evidence strength, so they can never put weaker evidence first.

The result supports a clinician's decision; it does not make it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attunement import content
from attunement.interventions.catalogue import (
    MECHANISM_LABELS,
    Catalogue,
    Programme,
    WindowPoint,
    load_catalogue,
    tier_rank,
)
from attunement.risk.family import ROLES, corrected_age, validate_family
from attunement.risk.profile import ROLE_LABELS, Profile
from attunement.risk.profile import profile as build_profile

RANKING_RULE = (
    "lexicographic: in-evidence before off-evidence; then evidence strength (5 to 1); then fit "
    "points (tier +2, pathway +3, +1 per factor present that the mechanism suits (max 3), +2 when "
    "designed for a specific population the family is in); then catalogue order"
)
NOTE = (
    "These recommendations support a clinician's decision with the family; they do not replace "
    "clinical judgement, local pathways or the family's preferences."
)
# A requirement naming at most this many factors/answers is a specific population (a prison or
# psychiatric mother-and-baby unit, addiction treatment, a clinical referral), not a broad risk list.
SPECIFIC_MAX_IDS = 2
INPATIENT = "psychiatric_mother_baby_unit"
PRISON = "prison_mother_baby_unit"
DOMESTIC_ABUSE = "domestic_violence"  # the factor id; the words shown are "domestic abuse"
SETTING_LABELS = {"community": "the community", "inpatient_mbu": "a psychiatric mother-and-baby unit",
                  "prison_mbu": "a prison mother-and-baby unit"}
HELD_EXCLUSION = "held: no programme is recommended until the safety review is recorded"


def _vocabulary() -> Any:
    from attunement.vocabulary import load_vocabulary

    return load_vocabulary()


def urgent_note(urgency: str) -> str | None:
    """The urgency's label and first action (from ``attunement.vocabulary``), or None.

    Parameters
    ----------
    urgency : {"none", "same_day", "emergency"}
        The profile's urgency.

    Returns
    -------
    str or None
        None for ``"none"``.

    Examples
    --------
    >>> urgent_note("none") is None, urgent_note("same_day").split(".")[0]
    (True, 'URGENT: same-day safety review')
    """
    if urgency == "none":
        return None
    level = _vocabulary().level(urgency)
    return f"{level.label}. {level.action}"


def held_reason(prof: Profile) -> str:
    """Why matching is held and what to do first (the emergency or same-day wording).

    Parameters
    ----------
    prof : Profile
        An urgent profile.

    Returns
    -------
    str
        The reason and the first action.

    Examples
    --------
    A mother who scored 1 on EPDS item 10 (thoughts of self-harm), with no review recorded:

    >>> fam = {"family_id": "F1", "assessed_on": "2025-03-01", "placement": "birth_family",
    ...        "infant": {"date_of_birth": "2024-09-01"},
    ...        "caregivers": [{"id": "M1", "role": "birth_mother",
    ...                        "responses": {"epds": [2, 2, 2, 2, 2, 1, 1, 1, 1, 1]}}]}
    >>> held_reason(build_profile(fam)).split(" (")[0]
    'Matching is held: URGENT: same-day safety review'
    """
    urgency = prof.urgency
    level = _vocabulary().level(urgency)
    why = "; ".join(prof.urgent_reasons) or "an urgent flag is open"
    return (f"Matching is held: {level.label} ({why}) and no safety review is recorded. "
            f"First: {level.action} Then record the review (family file: safety_review_completed: "
            "true; platform: acknowledge the alert with its outcome) and match again.")


@dataclass
class Recommendation:
    """A recommended programme: its rank, the ranking's parts and the reasons, for which caregivers.

    Parameters
    ----------
    id, name, short_name : str
        The programme.
    rank, score : int
        Its place (1 = best) and its score.
    ranking : dict
        The parts of the score.
    reasons : list of str
        Why it fits.
    evidence : dict
        The programme's evidence (strength, summary, studies).
    caregivers : list of str
        The caregivers it is for.
    programme : Programme
        The catalogue entry.
    off_evidence : list of str
        Where the family is outside the population it was tested in.

    Examples
    --------
    >>> fam = {"family_id": "F1", "assessed_on": "2025-03-01", "placement": "birth_family",
    ...        "infant": {"date_of_birth": "2024-09-01"},
    ...        "caregivers": [{"id": "M1", "role": "birth_mother",
    ...                        "responses": {"epds": [2, 2, 2, 2, 2, 1, 1, 1, 1, 0]}}]}
    >>> rec = match(None, fam).recommended[0]
    >>> rec.id, rec.rank, rec.evidence_fit, rec.caregivers
    ('vig', 1, 'in_evidence', ['M1'])
    """
    id: str
    name: str
    short_name: str
    rank: int
    score: int
    ranking: dict[str, int]
    reasons: list[str]
    evidence: dict[str, Any]
    caregivers: list[str]
    programme: Programme = field(repr=False)
    off_evidence: list[str] = field(default_factory=list)

    @property
    def evidence_fit(self) -> str:
        return "off_evidence" if self.off_evidence else "in_evidence"

    def to_dict(self) -> dict[str, Any]:
        """The recommendation as JSON-ready data: reasons, evidence, rank and fit.

        Returns
        -------
        dict
            Also the programme's delivery details and the population its trials tested.
        """
        d = self.programme.data
        tp = self.programme.trial_population
        return {
            "id": self.id,
            "name": self.name,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
            "rank": self.rank,
            "evidence_fit": self.evidence_fit,
            "off_evidence": list(self.off_evidence),
            "score": self.score,
            "ranking": dict(self.ranking),
            "short_name": self.short_name,
            "caregivers": list(self.caregivers),
            "mechanism": [MECHANISM_LABELS[c] for c in d["mechanism"]["codes"]],
            "tiers": list(d["tiers"]),
            "pathways": list(d["pathways"]),
            "window": self.programme.window_text(),
            "tested": {"ages": self.programme.tested_text(),
                       "caregiver_roles": list(tp["caregiver_roles"]),
                       "settings": list(tp["settings"]), "conditions": list(tp["conditions"]),
                       "source": " ".join(str(tp["source"]).split())},
            "format": d["format"],
            "dose": d["dose"],
            "delivered_by": d["delivered_by"],
            "outcome_measures": list(d["outcome_measures"]),
            "uncertainties": list(d["uncertainties"]),
        }


@dataclass
class Exclusion(content.Plain):
    """A programme left out, with every reason.

    Parameters
    ----------
    id, name : str
        The programme.
    reasons : list of str
        Why it does not fit.

    Examples
    --------
    >>> Exclusion("abc", "ABC", ["population: requires early adversity"]).to_dict()["reasons"]
    ['population: requires early adversity']
    """
    id: str
    name: str
    reasons: list[str]


@dataclass
class MatchResult:
    """Ranked recommendations (best first), exclusions with reasons, and the decision-support note.

    ``held`` is true while an urgent flag is open and no safety review is recorded; then
    ``recommended`` is empty and ``held_reason`` says what to do first.

    Parameters
    ----------
    family_id, tier : str
        The family and its tier.
    urgent : bool
        Whether the profile is urgent.
    recommended : list of Recommendation
        Best first.
    excluded : list of Exclusion
        With reasons.
    offered : list of str, optional
        The programmes the service offers, when restricted.
    note : str
        The decision-support note.
    urgency : str
        The profile's urgency.
    held : bool
        Whether matching is held.
    held_reason : str, optional
        What to do first while held.
    safety_review_completed : bool
        Whether a safety review is recorded.

    Examples
    --------
    >>> r = MatchResult("F1", "universal", False, recommended=[], excluded=[])
    >>> r.held, r.urgent_note, r.to_dict()["recommended"]
    (False, None, [])
    """

    family_id: str
    tier: str
    urgent: bool
    recommended: list[Recommendation]
    excluded: list[Exclusion]
    offered: list[str] | None = None
    note: str = NOTE
    urgency: str = "none"
    held: bool = False
    held_reason: str | None = None
    safety_review_completed: bool = False

    @property
    def urgent_note(self) -> str | None:
        return urgent_note(self.urgency)

    def to_dict(self) -> dict[str, Any]:
        """Machine form of the match: recommended and excluded programmes, then whether and why
        matching was held.

        Returns
        -------
        dict
            ``recommended``, ``excluded``, ``note``, ``held``, ``held_reason``, the family's tier
            and urgency, and whether the safety review was recorded.
        """
        return {
            "recommended": [r.to_dict() for r in self.recommended],
            "excluded": [e.to_dict() for e in self.excluded],
            "note": self.note,
            "held": self.held,
            "held_reason": self.held_reason,
            "family_id": self.family_id,
            "tier": self.tier,
            "urgent": self.urgent,
            "urgency": self.urgency,
            "urgent_note": self.urgent_note,
            "safety_review_completed": self.safety_review_completed,
            "offered": self.offered,
            "ranking_rule": RANKING_RULE,
        }

    def explain(self) -> str:
        """A readable account for the practitioner: why matching is held (if it is), the
        recommended programmes best first with their evidence and fit, and why others were left out.

        Returns
        -------
        str
            Several lines of text.
        """
        lines = [f"Matches for family {self.family_id} (tier {self.tier})."]
        if self.held:
            lines.append(str(self.held_reason))
        elif self.urgent_note:
            lines.append(f"{self.urgent_note} (safety review recorded)")
        if self.recommended:
            lines.append("Recommended (best first):")
            for r in self.recommended:
                mark = " [OFF-EVIDENCE]" if r.off_evidence else ""
                lines.append(f"  {r.rank}. {r.name}{mark} [evidence {r.evidence['strength']}/5, "
                             f"fit {r.score}: " +
                             ", ".join(f"{k} {v}" for k, v in r.ranking.items()) + "]")
                lines += [f"     - {why}" for why in r.reasons]
                lines += [f"     - {why}" for why in r.off_evidence]
                lines.append(f"     evidence ({r.evidence['strength']}/5): {r.evidence['summary']}")
        elif not self.held:
            lines.append("Recommended: none of the catalogued programmes fits.")
        if self.excluded:
            lines.append("Not eligible:")
            for e in self.excluded:
                lines.append(f"  - {e.name}: {'; '.join(e.reasons)}")
        lines.append(self.note)
        return "\n".join(lines)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.table import Table
        from rich.text import Text

        if self.held:
            yield Text(str(self.held_reason), style="bold white on red")
        elif self.urgent_note:
            yield Text(f"{self.urgent_note} (safety review recorded)", style="bold red")
        if not self.held:
            table = Table(title=Text(f"Recommended for {self.family_id} (tier {self.tier})"),
                          expand=False)
            table.add_column("#", justify="right")
            table.add_column("programme")
            table.add_column("evidence", overflow="fold")
            table.add_column("why it fits", overflow="fold")
            for r in self.recommended:
                name = r.short_name + ("\nOFF-EVIDENCE" if r.off_evidence else "")
                table.add_row(str(r.rank), Text(name), Text(
                    f"{r.evidence['strength']}/5 - {r.evidence['summary']}"),
                    Text("\n".join([*r.reasons, *r.off_evidence])))
            yield table
        if self.excluded:
            ex = Table(title="Not eligible", expand=False)
            ex.add_column("programme")
            ex.add_column("why not", overflow="fold")
            for e in self.excluded:
                ex.add_row(Text(e.name), Text("; ".join(e.reasons)))
            yield ex
        yield Text(self.note, style="italic dim")


def _role_text(roles: Iterable[str]) -> str:
    return ", ".join(ROLE_LABELS.get(r, r) for r in roles)


def _context(family: Mapping[str, Any], caregiver_id: str | None) -> dict[str, Any]:
    ctx = dict(family.get("context") or {})
    for cg in family["caregivers"]:
        if cg["id"] == caregiver_id:
            ctx.update(cg.get("context") or {})
    return ctx


def _present_for(prof: Profile, family: Mapping[str, Any], caregiver_id: str,
                 ids: Iterable[str]) -> list[str]:
    """Which of ``ids`` (factors or recorded answers) hold for this caregiver or the family."""
    wanted = list(ids)
    hits: list[str] = []
    for f in prof.factors:
        if f.id in wanted and f.caregiver in (None, caregiver_id) and f.id not in hits:
            hits.append(f.id)
    ctx = _context(family, caregiver_id)
    hits += [k for k in wanted if ctx.get(k) is True and k not in hits]
    return hits


def _setting(family: Mapping[str, Any], caregiver_id: str) -> str:
    ctx = _context(family, caregiver_id)
    if ctx.get(INPATIENT) is True:
        return "inpatient_mbu"
    if ctx.get(PRISON) is True:
        return "prison_mbu"
    return "community"


def _labels(prof: Profile) -> dict[str, str]:
    defs = prof.definitions
    return {c.id: c.label for c in defs.context_items} | {f.id: f.label for f in defs.factors}


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class _Age:
    """The infant's age for programme windows: corrected for prematurity when that applies."""

    antenatal: bool
    weeks: int  # completed gestation weeks antenatally; completed weeks of age after birth
    months: int
    text: str


def programme_age(prof: Profile) -> _Age:
    """The age used for programme windows, in words that say which age and on which date.

    Corrected for prematurity by :func:`attunement.risk.family.corrected_age` (born before 37
    weeks, until 2 years of chronological age).

    Parameters
    ----------
    prof : Profile
        The profile.

    Returns
    -------
    tuple
        ``(antenatal, weeks, months, text)``.

    Examples
    --------
    >>> fam = {"family_id": "F1", "assessed_on": "2025-03-01", "placement": "birth_family",
    ...        "infant": {"date_of_birth": "2024-09-01"},
    ...        "caregivers": [{"id": "M1", "role": "birth_mother"}]}
    >>> programme_age(build_profile(fam)).text
    'infant aged 6 completed months on the assessment date (2025-03-01)'
    """
    t = prof.infant
    on = f"on the assessment date ({prof.assessed_on})"
    if t.stage == "antenatal":
        weeks = (t.gestation_days or 0) // 7
        gestation = f"{weeks} completed week's" if weeks == 1 else f"{weeks} completed weeks'"
        return _Age(True, weeks, 0, f"{gestation} gestation {on}")
    months, days = t.age_months or 0, t.age_days or 0
    ga = t.gestational_age_at_birth_weeks
    born = dt.date.fromisoformat(prof.assessed_on) - dt.timedelta(days=days)
    age = corrected_age(born, prof.assessed_on, ga)
    if age.corrected:
        return _Age(False, age.days // 7, age.months,
                    f"infant's corrected age {_plural(age.months, 'completed month')} {on} (born "
                    f"at {ga:g} weeks' gestation; chronological age "
                    f"{_plural(months, 'completed month')})")
    return _Age(False, days // 7, months, f"infant aged {_plural(months, 'completed month')} {on}")


def _before(age: _Age, point: WindowPoint) -> bool:
    """Whether the age is before the start point."""
    if age.antenatal:
        return point.gestation_weeks is None or age.weeks < point.gestation_weeks
    if point.gestation_weeks is not None:
        return False
    if point.age_weeks is not None:
        return age.weeks < point.age_weeks
    return age.months < (point.age_months or 0)


def _after(age: _Age, point: WindowPoint) -> bool:
    """Whether the age is past the (inclusive) end point."""
    if age.antenatal:
        return point.gestation_weeks is not None and age.weeks > point.gestation_weeks
    if point.gestation_weeks is not None:
        return True
    if point.age_weeks is not None:
        return age.weeks > point.age_weeks
    return age.months > (point.age_months or 0)


def _window(prog: Programme, age: _Age) -> tuple[bool, str]:
    s, e = prog.start, prog.end
    span = f"window {prog.window_text()}"
    where = age.text
    if age.antenatal and s.gestation_weeks is None:
        return False, f"starts after birth, at {s.describe()}; now {where}"
    if not age.antenatal and e.gestation_weeks is not None:
        return False, f"antenatal enrolment only (ends at {e.describe()}); the infant is born ({where})"
    if _before(age, s):
        return False, f"too {'early' if age.antenatal else 'young'}: {where}, starts at {s.describe()}"
    if _after(age, e):
        return False, (f"too {'late' if age.antenatal else 'old'}: {where}, "
                       f"{'enrolment ends' if age.antenatal else 'ends'} at {e.describe()}")
    return True, f"{where} is inside the {span}"


def _tested_age(prog: Programme, age: _Age) -> str | None:
    """Why the age is outside the ages the programme was tested at, or None."""
    s, e = prog.tested_start, prog.tested_end
    if _before(age, s) or _after(age, e):
        return (f"off-evidence: tested at {prog.tested_text()} "
                f"({' '.join(str(prog.trial_population['source']).split())}); {age.text}")
    return None


def _caregiver_check(prog: Programme, prof: Profile, family: Mapping[str, Any],
                     cg: Mapping[str, Any], labels: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(reasons it fits, reasons it does not) for one caregiver."""
    elig = prog.eligibility
    fits: list[str] = []
    fails: list[str] = []
    title = f"{cg['id']} ({ROLE_LABELS[cg['role']]})"
    roles = elig["caregiver_roles"]
    if roles != "any" and cg["role"] not in roles:
        fails.append(f"role: for {_role_text(roles)} only; {title} is not")
        return fits, fails
    if elig.get("first_time_parent"):
        if cg.get("first_time_parent") is True:
            fits.append(f"{title} is a first-time parent")
        elif cg.get("first_time_parent") is False:
            fails.append(f"population: for first-time parents; {title} is not")
        else:
            fails.append(f"population: for first-time parents; not recorded for {title}")
    limit = elig.get("max_caregiver_age")
    if limit is not None:
        age = cg.get("age")
        if age is None:
            fails.append(f"population: for parents aged {limit} or under; {title}'s age not recorded")
        elif age > limit:
            fails.append(f"population: for parents aged {limit} or under; {title} is {age}")
        else:
            fits.append(f"{title} is aged {age} (limit {limit})")
    def found(conds: Any) -> Iterator[tuple[str, str]]:
        """Each condition's label with the named items recorded for this caregiver ('' if none)."""
        for cond in conds or []:
            hits = _present_for(prof, family, cg["id"], cond["any_of"])
            yield cond["label"], ", ".join(labels.get(h, h) for h in hits)

    for label, hits in found(elig.get("requires")):
        if hits:
            fits.append(f"meets: {label} ({hits})")
        else:
            fails.append(f"population: requires {label}; none recorded for {title} or the family")
    fails += [f"exclusion: {label} ({hits})" for label, hits in found(elig.get("excludes")) if hits]
    fails += [f"outside its evidence: {label} ({hits} recorded for {title} or the family)"
              for label, hits in found(prog.trial_population.get("exclusions")) if hits]
    if prog.delivery["group"] and prog.delivery["outpatient"] and \
            _setting(family, cg["id"]) == "inpatient_mbu":
        fails.append(f"protective exclusion: an outpatient group programme is not for an inpatient; "
                     f"{title} is admitted to a psychiatric mother-and-baby unit")
    return fits, fails


def _in_tested_population(prog: Programme, family: Mapping[str, Any],
                          cg: Mapping[str, Any]) -> str | None:
    """Why this caregiver is outside the trials' roles or settings, or None."""
    tp = prog.trial_population
    title = f"{cg['id']} ({ROLE_LABELS[cg['role']]})"
    if cg["role"] not in tp["caregiver_roles"]:
        return f"{title}: tested with {_role_text(tp['caregiver_roles'])} only"
    setting = _setting(family, cg["id"])
    if setting not in tp["settings"]:
        where = " or ".join(SETTING_LABELS[s] for s in tp["settings"])
        return f"{title}: tested in {where}, not in {SETTING_LABELS[setting]}"
    return None


def match(profile: Profile | None, family: Mapping[str, Any] | str | Path, *,
          offered: Iterable[str] | None = None, catalogue: Catalogue | None = None) -> MatchResult:
    """Match a profile to the intervention catalogue: ranked recommendations and exclusions.

    See the module docstring for the hold, eligibility, evidence-fit and ranking rules.

    Parameters
    ----------
    profile : Profile or None
        The family's profile; None builds it here.
    family : mapping, str or Path
        The family dict (or file path) the profile was built from.
    offered : iterable of str, optional
        The programmes a service offers (ids).
    catalogue : Catalogue, optional
        The catalogue; the shipped one by default.

    Returns
    -------
    MatchResult
        Recommendations and exclusions.

    Raises
    ------
    ValueError
        The profile is of another family, or an offered id is unknown.
    FamilyError
        The family is invalid.

    Examples
    --------
    A foster carer with a 9-month-old; the service offers two programmes:

    >>> foster = {"family_id": "F2", "assessed_on": "2025-03-01", "placement": "foster",
    ...           "infant": {"date_of_birth": "2024-06-01"},
    ...           "caregivers": [{"id": "C1", "role": "foster_carer"}]}
    >>> r = match(None, foster, offered=["abc", "vig"])
    >>> r.tier, [x.id for x in r.recommended], r.recommended[0].reasons[1]
    ('targeted', ['abc', 'vig'], 'for C1 (foster carer)')
    """
    if isinstance(family, str | Path):
        from attunement.risk.family import load_family

        fam = load_family(family)
    else:
        fam = validate_family(family)
    prof = profile if profile is not None else build_profile(fam)
    if prof.family_id != fam["family_id"]:
        raise ValueError(f"the profile is for family {prof.family_id!r} but the family file is "
                         f"{fam['family_id']!r}")
    cat = catalogue or load_catalogue()
    offered_ids = None
    if offered is not None:
        offered_ids = [o.strip() for o in offered if o and o.strip()]
        unknown = [o for o in offered_ids if o not in cat.ids]
        if unknown:
            raise ValueError(f"offered: unknown programme id(s) {', '.join(unknown)}; "
                             f"known: {', '.join(cat.ids)}")
    labels = _labels(prof)
    present = set(prof.factor_ids)
    recorded = {k for k, v in (fam.get("context") or {}).items() if v is True}
    for cg in fam["caregivers"]:
        recorded |= {k for k, v in (cg.get("context") or {}).items() if v is True}
    age = programme_age(prof)
    abuse = DOMESTIC_ABUSE in present or DOMESTIC_ABUSE in recorded
    held = bool(prof.urgent) and not prof.safety_review_completed

    candidates: list[tuple[tuple[int, int, int, int], Recommendation]] = []
    excluded: list[Exclusion] = []
    for prog in cat:
        fits: list[str] = []
        fails: list[str] = []
        if offered_ids is not None and prog.id not in offered_ids:
            fails.append("not offered by this service")
        ok, why = _window(prog, age)
        (fits if ok else fails).append(("age window: " if not ok else "") + why)
        lowest = min(tier_rank(t) for t in prog.tiers)
        shared = [p for p in prog.pathways if p in prof.pathways]
        if tier_rank(prof.tier) < lowest and not shared:
            fails.append(f"intensity: a {'/'.join(prog.tiers)} programme; the profile's tier is "
                         f"{prof.tier} and no pathway it serves applies")
        if prog.delivery["co_parenting"] and abuse:
            fails.append("protective exclusion: a couples' or co-parenting programme is not "
                         "suggested where domestic abuse is recorded")
        if prog.delivery["group"] and prog.delivery["outpatient"] and prof.urgent:
            fails.append("protective exclusion: no outpatient group programme while an urgent "
                         "flag is open")
        eligible_cgs: list[str] = []
        cg_fits: list[str] = []
        cg_fails: list[str] = []
        for cg in fam["caregivers"]:
            f_ok, f_no = _caregiver_check(prog, prof, fam, cg, labels)
            if f_no:
                cg_fails += f_no
            else:
                eligible_cgs.append(cg["id"])
                cg_fits += f_ok
        if eligible_cgs:
            fits.append("for " + ", ".join(
                f"{c['id']} ({ROLE_LABELS[c['role']]})" for c in fam["caregivers"]
                if c["id"] in eligible_cgs))
            fits += list(dict.fromkeys(cg_fits))
        else:
            fails += list(dict.fromkeys(cg_fails)) or ["no eligible caregiver"]
        need = prog.eligibility.get("min_caregivers")
        if need and len(eligible_cgs) < need:
            fails.append(f"population: needs {need} eligible caregivers (e.g. a couple); "
                         f"{len(eligible_cgs)} eligible")
        if fails:
            excluded.append(Exclusion(prog.id, prog.name, list(dict.fromkeys(fails))))
            continue

        off: list[str] = []
        outside_age = _tested_age(prog, age)
        if outside_age:
            off.append(outside_age)
        cgs = [c for c in fam["caregivers"] if c["id"] in eligible_cgs]
        outside = [w for w in (_in_tested_population(prog, fam, c) for c in cgs) if w]
        if len(outside) == len(cgs):
            off.append("off-evidence: " + "; ".join(outside))
        elif outside:
            fits.append("outside the trials' population: " + "; ".join(outside))

        tier_fit = 2 if prof.tier in prog.tiers else 0
        if tier_fit:
            fits.append(f"serves the {prof.tier} tier")
        elif tier_rank(prof.tier) < lowest:
            fits.append(f"a {'/'.join(prog.tiers)} programme above the {prof.tier} tier, "
                        "eligible through its pathway")
        else:
            fits.append(f"a {'/'.join(prog.tiers)} programme, below the {prof.tier} tier")
        path_fit = 3 if shared else 0
        if shared:
            names = [d["label"] for d in prof.pathway_details if d["id"] in shared]
            fits.append("pathway: " + "; ".join(names))
        suited = [s for s in prog.data["suits"] if s in present or s in recorded]
        mech_fit = min(3, len(suited))
        if suited:
            mech = ", ".join(MECHANISM_LABELS[c] for c in prog.mechanism)
            fits.append(f"mechanism ({mech}) suited to: " + ", ".join(labels.get(s, s) for s in suited))
        specific = [c["label"] for c in prog.eligibility.get("requires") or []
                    if len(c["any_of"]) <= SPECIFIC_MAX_IDS]
        pop_fit = 2 if specific else 0
        if specific:
            fits.append("designed for this population: " + "; ".join(specific))
        strength = prog.strength
        in_evidence = 0 if off else 1
        ranking = {"in_evidence": in_evidence, "evidence": strength, "tier": tier_fit,
                   "pathway": path_fit, "mechanism": mech_fit, "population": pop_fit}
        fit = tier_fit + path_fit + mech_fit + pop_fit
        rec = Recommendation(prog.id, prog.name, prog.short_name, 0, fit, ranking, fits,
                             prog.evidence_dict(), eligible_cgs, prog, off)
        candidates.append(((-in_evidence, -strength, -fit, prog.position), rec))
    candidates.sort(key=lambda c: c[0])
    recommended = []
    for rank, (_, rec) in enumerate(candidates, start=1):
        rec.rank = rank
        recommended.append(rec)
    reason = None
    if held:
        reason = held_reason(prof)
        held_out = [Exclusion(r.id, r.name, [HELD_EXCLUSION]) for r in recommended]
        order = {pid: i for i, pid in enumerate(cat.ids)}
        excluded = sorted(excluded + held_out, key=lambda e: order[e.id])
        recommended = []
    return MatchResult(prof.family_id, prof.tier, prof.urgent, recommended, excluded, offered_ids,
                       urgency=prof.urgency, held=held, held_reason=reason,
                       safety_review_completed=bool(prof.safety_review_completed))


__all__ = ["NOTE", "ROLES", "Exclusion", "MatchResult", "Recommendation", "held_reason", "match",
           "programme_age"]
