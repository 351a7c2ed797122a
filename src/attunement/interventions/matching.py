"""Matching a family's profile to the intervention catalogue, with reasons and evidence.

Eligibility (all must hold, else the programme is listed under ``excluded`` with every reason):
the infant's age or gestation is inside the programme's enrolment window; the programme is not
more intensive than the profile's tier unless it serves one of the profile's pathways (a
specialist custody or addiction programme stays open to a targeted-tier family in that
pathway); at least one caregiver has an eligible role and meets the programme's population
requirements (first-time parent, age, recorded answers such as addiction
treatment or a prison mother-and-baby unit) without an exclusion; enough caregivers for couple
programmes; and the service offers it (``offered``).

Ranking rule (transparent and additive, shown in ``ranking`` for every recommendation):

* tier fit: +2 when the programme serves the profile's tier (a lower-tier programme stays eligible
  for a higher-tier family but ranks lower);
* pathway fit: +3 when the programme serves one of the profile's pathways;
* mechanism fit: +1 for each factor present that the programme's mechanism is suited to
  (``suits`` in the catalogue, e.g. foster/adoptive placement or parental severe mental illness ->
  ABC's behavioural sensitivity focus), at most +3;
* population fit: +2 when a requirement naming one or two specific situations is met (a prison or
  psychiatric mother-and-baby unit, addiction treatment, a clinical referral, child protection);
* evidence strength: +1 to +5 on the catalogue's rubric.

Ties keep catalogue order. The result supports a clinician's decision; it does not make it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attunement.interventions.catalogue import (
    MECHANISM_LABELS,
    Catalogue,
    Programme,
    load_catalogue,
    tier_rank,
)
from attunement.risk.family import ROLES, validate_family
from attunement.risk.profile import ROLE_LABELS, Profile
from attunement.risk.profile import profile as build_profile

RANKING_RULE = (
    "tier fit +2; pathway fit +3; +1 per factor present that the mechanism suits (max 3); "
    "+2 when designed for a specific population the family is in; evidence strength +1 to +5; "
    "ties keep catalogue order"
)
NOTE = (
    "These recommendations support a clinician's decision with the family; they do not replace "
    "clinical judgement, local pathways or the family's preferences."
)
# A requirement naming at most this many factors/answers is a specific population (a prison or
# psychiatric mother-and-baby unit, addiction treatment, a clinical referral), not a broad risk list.
SPECIFIC_MAX_IDS = 2
URGENT_NOTE = "URGENT: complete the same-day safety review before planning any programme."


@dataclass
class Recommendation:
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

    def to_dict(self) -> dict[str, Any]:
        d = self.programme.data
        return {
            "id": self.id,
            "name": self.name,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
            "rank": self.rank,
            "score": self.score,
            "ranking": dict(self.ranking),
            "short_name": self.short_name,
            "caregivers": list(self.caregivers),
            "mechanism": [MECHANISM_LABELS[c] for c in d["mechanism"]["codes"]],
            "tiers": list(d["tiers"]),
            "pathways": list(d["pathways"]),
            "window": self.programme.window_text(),
            "format": d["format"],
            "dose": d["dose"],
            "delivered_by": d["delivered_by"],
            "outcome_measures": list(d["outcome_measures"]),
            "uncertainties": list(d["uncertainties"]),
        }


@dataclass
class Exclusion:
    id: str
    name: str
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "reasons": list(self.reasons)}


@dataclass
class MatchResult:
    """Ranked recommendations (best first), exclusions with reasons, and the decision-support note."""

    family_id: str
    tier: str
    urgent: bool
    recommended: list[Recommendation]
    excluded: list[Exclusion]
    offered: list[str] | None = None
    note: str = NOTE

    def to_dict(self) -> dict[str, Any]:
        return {
            "recommended": [r.to_dict() for r in self.recommended],
            "excluded": [e.to_dict() for e in self.excluded],
            "note": self.note,
            "family_id": self.family_id,
            "tier": self.tier,
            "urgent": self.urgent,
            "urgent_note": URGENT_NOTE if self.urgent else None,
            "offered": self.offered,
            "ranking_rule": RANKING_RULE,
        }

    def explain(self) -> str:
        lines = [f"Matches for family {self.family_id} (tier {self.tier})."]
        if self.urgent:
            lines.append(URGENT_NOTE)
        if self.recommended:
            lines.append("Recommended (best first):")
            for r in self.recommended:
                lines.append(f"  {r.rank}. {r.name} [score {r.score}: " +
                             ", ".join(f"{k} {v}" for k, v in r.ranking.items()) + "]")
                lines += [f"     - {why}" for why in r.reasons]
                lines.append(f"     evidence ({r.evidence['strength']}/5): {r.evidence['summary']}")
        else:
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

        if self.urgent:
            yield Text(URGENT_NOTE, style="bold white on red")
        table = Table(title=Text(f"Recommended for {self.family_id} (tier {self.tier})"),
                      expand=False)
        table.add_column("#", justify="right")
        table.add_column("programme")
        table.add_column("score", justify="right")
        table.add_column("why it fits", overflow="fold")
        table.add_column("evidence", overflow="fold")
        for r in self.recommended:
            table.add_row(str(r.rank), Text(r.short_name), str(r.score), Text("\n".join(r.reasons)),
                          Text(f"{r.evidence['strength']}/5 - {r.evidence['summary']}"))
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


def _present_for(prof: Profile, family: Mapping[str, Any], caregiver_id: str,
                 ids: Iterable[str]) -> list[str]:
    """Which of ``ids`` (factors or recorded answers) hold for this caregiver or the family."""
    wanted = list(ids)
    hits: list[str] = []
    for f in prof.factors:
        if f.id in wanted and f.caregiver in (None, caregiver_id) and f.id not in hits:
            hits.append(f.id)
    ctx = dict(family.get("context") or {})
    for cg in family["caregivers"]:
        if cg["id"] == caregiver_id:
            ctx.update(cg.get("context") or {})
    hits += [k for k in wanted if ctx.get(k) is True and k not in hits]
    return hits


def _labels(prof: Profile) -> dict[str, str]:
    defs = prof.definitions
    return {c.id: c.label for c in defs.context_items} | {f.id: f.label for f in defs.factors}


def _window(prog: Programme, prof: Profile) -> tuple[bool, str]:
    t = prof.infant
    s, e = prog.start, prog.end
    span = f"window {prog.window_text()}"
    if t.stage == "antenatal":
        weeks = (t.gestation_days or 0) // 7
        where = f"{weeks} completed weeks' gestation"
        if s.gestation_weeks is None:
            return False, f"starts after birth, at {s.describe()}; now {where}"
        if weeks < s.gestation_weeks:
            return False, f"too early: {where}, starts at {s.describe()}"
        if e.gestation_weeks is not None and weeks > e.gestation_weeks:
            return False, f"too late: {where}, enrolment ends at {e.describe()}"
        return True, f"{where} is inside the {span}"
    months = t.age_months or 0
    where = f"infant aged {months} completed months"
    if e.gestation_weeks is not None:
        return False, f"antenatal enrolment only (ends at {e.describe()}); the infant is born ({where})"
    if s.age_months is not None and months < s.age_months:
        return False, f"too young: {where}, starts at {s.describe()}"
    if e.age_months is not None and months > e.age_months:
        return False, f"too old: {where}, ends at {e.describe()}"
    return True, f"{where} is inside the {span}"


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
    for cond in elig.get("requires") or []:
        hits = _present_for(prof, family, cg["id"], cond["any_of"])
        if hits:
            fits.append(f"meets: {cond['label']} ({', '.join(labels.get(h, h) for h in hits)})")
        else:
            fails.append(f"population: requires {cond['label']}; none recorded for {title} or the family")
    for cond in elig.get("excludes") or []:
        hits = _present_for(prof, family, cg["id"], cond["any_of"])
        if hits:
            fails.append(f"exclusion: {cond['label']} ({', '.join(labels.get(h, h) for h in hits)})")
    return fits, fails


def match(profile: Profile | None, family: Mapping[str, Any] | str | Path, *,
          offered: Iterable[str] | None = None, catalogue: Catalogue | None = None) -> MatchResult:
    """Match a profile to the intervention catalogue: ranked recommendations and exclusions.

    ``family`` is the family dict (or file path) the profile was built from; ``profile`` may be
    None to build it here. ``offered`` restricts to the programmes a service offers (ids; unknown
    ids raise ``ValueError``). See the module docstring for the eligibility and ranking rules.
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

    candidates: list[tuple[int, int, int, Recommendation]] = []
    excluded: list[Exclusion] = []
    for prog in cat:
        fits: list[str] = []
        fails: list[str] = []
        if offered_ids is not None and prog.id not in offered_ids:
            fails.append("not offered by this service")
        ok, why = _window(prog, prof)
        (fits if ok else fails).append(("age window: " if not ok else "") + why)
        lowest = min(tier_rank(t) for t in prog.tiers)
        shared = [p for p in prog.pathways if p in prof.pathways]
        if tier_rank(prof.tier) < lowest and not shared:
            fails.append(f"intensity: a {'/'.join(prog.tiers)} programme; the profile's tier is "
                         f"{prof.tier} and no pathway it serves applies")
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
        ranking = {"tier": tier_fit, "pathway": path_fit, "mechanism": mech_fit,
                   "population": pop_fit, "evidence": strength}
        total = sum(ranking.values())
        rec = Recommendation(prog.id, prog.name, prog.short_name, 0, total, ranking, fits,
                             prog.evidence_dict(), eligible_cgs, prog)
        candidates.append((-total, -strength, prog.position, rec))
    candidates.sort(key=lambda c: c[:3])
    recommended = []
    for rank, (*_, rec) in enumerate(candidates, start=1):
        rec.rank = rank
        recommended.append(rec)
    return MatchResult(prof.family_id, prof.tier, prof.urgent, recommended, excluded, offered_ids)


__all__ = ["NOTE", "ROLES", "Exclusion", "MatchResult", "Recommendation", "match"]
