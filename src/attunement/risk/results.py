"""What a vulnerability profile holds: the factor findings, the rules that fired, the treatment
routes and prompts, each caregiver's scores, and the :class:`Profile` with its summaries and
prints (built by :func:`attunement.risk.profile.profile`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attunement import content
from attunement.risk.definitions import Definitions
from attunement.risk.family import InfantTiming
from attunement.vocabulary import load_vocabulary

NOTE = (
    "This profile supports a clinician's decision; it is not a diagnosis. Screening scores need a "
    "clinical interview, and local safeguarding policy always applies."
)

ROLE_LABELS = {
    "birth_mother": "birth mother",
    "birth_father": "birth father",
    "co_parent": "co-parent",
    "foster_carer": "foster carer",
    "adoptive_parent": "adoptive parent",
    "kinship_carer": "kinship carer",
    "other": "other caregiver",
}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


@dataclass(frozen=True)
class FactorFinding:
    """One factor found in one caregiver (or in the family as a whole when ``caregiver`` is None).

    Parameters
    ----------
    id, label : str
        The factor.
    caregiver : str or None
        The caregiver it was found in; None for a family-level factor.
    level : {"caregiver", "family"}
        The factor's level.
    reason, evidence : str
        Why it was found (score, rule and source) and the evidence for it as a factor.

    Examples
    --------
    See :class:`Profile` for findings from a family.

    >>> f = FactorFinding("perinatal_depression", "Perinatal depression", "M1", "caregiver",
    ...                   "EPDS total 14 ≥ 13", "[2+]")
    >>> f.to_dict()["caregiver"]
    'M1'
    """

    id: str
    label: str
    caregiver: str | None
    level: str
    reason: str
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain data, for JSON output.

        Returns
        -------
        dict
            ``id``, ``caregiver``, ``reason``, ``label``, ``level`` and ``evidence``.
        """
        return {"id": self.id, "caregiver": self.caregiver, "reason": self.reason,
                "label": self.label, "level": self.level, "evidence": self.evidence}


@dataclass(frozen=True)
class RuleFired(content.Plain):
    """A tier rule, urgent rule or pathway condition that fired, with why.

    Parameters
    ----------
    kind : {"urgent", "tier", "pathway"}
        What fired.
    id : str
        The rule.
    target : str
        The tier or pathway it supports, or ``"urgent"``.
    reason : str
        Why, in words.

    Examples
    --------
    >>> RuleFired("tier", "any_factor", "targeted", "a vulnerability factor is present").to_dict()
    {'kind': 'tier', 'id': 'any_factor', 'target': 'targeted', 'reason': 'a vulnerability factor is present'}
    """

    kind: str  # "urgent" | "tier" | "pathway"
    id: str
    target: str  # the tier or pathway it supports, or "urgent"
    reason: str


@dataclass(frozen=True)
class Treatment(content.Plain):
    """A referral route for a caregiver's own health (not an attachment programme).

    Parameters
    ----------
    caregiver : str or None
        None for a family-level concern (e.g. domestic abuse recorded for the household).
    route : str
        A route id of ``treatment_routes.yaml`` (or the service's file).
    reason, label, contact, source : str
        Why, the service's local name and contact, and the source.
    urgency : {"routine", "same_day", "emergency"}
        How soon.

    Examples
    --------
    >>> Treatment("M1", "gp", "Perinatal depression").to_dict()["urgency"]
    'routine'
    """

    caregiver: str | None
    route: str
    reason: str
    label: str = ""
    contact: str = ""
    source: str = ""
    urgency: str = "routine"


@dataclass(frozen=True)
class Prompt(content.Plain):
    """Something the practitioner should do or ask next (e.g. repeat the EPDS in 2 weeks).

    Parameters
    ----------
    id : str
        The prompt rule.
    caregiver : str or None
        Whom it is about; None for the family.
    text, source : str
        What to do and the source.

    Examples
    --------
    >>> Prompt("epds_repeat_borderline", "M1", "Repeat the EPDS in 2 weeks.").to_dict()["caregiver"]
    'M1'
    """

    id: str
    caregiver: str | None
    text: str
    source: str = ""


@dataclass
class CaregiverResult:
    """A caregiver's scores and flags at this assessment.

    Parameters
    ----------
    id, role : str
        The caregiver and their role.
    age : int or None
        Their age.
    scores : dict
        Output column -> score of every questionnaire answered.
    flags : list of dict
        The flags raised.
    instruments : list of str
        The questionnaires answered.
    item_scores : dict
        Instrument -> keyed item scores.

    Examples
    --------
    >>> CaregiverResult("M1", "birth_mother", 29).title
    'M1 (birth mother)'
    """

    id: str
    role: str
    age: int | None
    scores: dict[str, Any] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)
    item_scores: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        return f"{self.id} ({ROLE_LABELS.get(self.role, self.role)})"

    def to_dict(self) -> dict[str, Any]:
        """The caregiver's part of the profile's machine form (item scores left out).

        Returns
        -------
        dict
            ``id``, ``role``, ``age``, ``instruments``, ``scores`` and ``flags``.
        """
        return {"id": self.id, "role": self.role, "age": self.age, "instruments": self.instruments,
                "scores": self.scores, "flags": self.flags}


@dataclass
class Profile:
    """A family's vulnerability profile at one assessment. See :func:`~attunement.risk.profile`.

    The fields: the family and date (``family_id``, ``assessed_on``, ``infant``, ``infants``,
    ``placement``); the result (``tier``, ``urgent``, ``urgency``, ``urgent_reasons``,
    ``urgent_details``, ``factors``, ``cumulative_risk``, ``pathways``, ``pathway_details``,
    ``treatment``, ``prompts``, ``safety_review_completed``); and the detail behind it
    (``caregivers``, ``rules_fired``, ``not_assessed``, ``screens_positive``, ``reviews``,
    ``definitions``).

    Examples
    --------
    >>> from attunement.risk.profile import profile
    >>> fam = {"family_id": "F1", "assessed_on": "2025-03-01", "placement": "birth_family",
    ...        "infant": {"date_of_birth": "2025-01-10"},
    ...        "caregivers": [{"id": "M1", "role": "birth_mother",
    ...                        "responses": {"epds": [2, 2, 2, 2, 2, 1, 1, 1, 1, 0]}}]}
    >>> p = profile(fam)
    >>> p.tier, p.urgent, p.cumulative_risk, p.factor_ids
    ('targeted', False, 2, ['perinatal_depression', 'perinatal_anxiety'])
    >>> p.caregiver("M1").scores["epds_total"]
    14
    """

    family_id: str
    assessed_on: str
    tier: str
    urgent: bool
    urgent_reasons: list[str]
    factors: list[FactorFinding]
    cumulative_risk: int
    pathways: list[str]
    pathway_details: list[dict[str, Any]]
    caregivers: list[CaregiverResult]
    rules_fired: list[RuleFired]
    infant: InfantTiming
    placement: str
    not_assessed: list[dict[str, Any]]
    screens_positive: list[dict[str, Any]]
    definitions: Definitions = field(repr=False)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    urgency: str = "none"
    treatment: list[Treatment] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    safety_review_completed: bool = False
    urgent_details: list[dict[str, Any]] = field(default_factory=list)
    infants: list[InfantTiming] = field(default_factory=list)

    @property
    def crisis_contacts(self) -> list[dict[str, str]]:
        """The crisis contacts to show (the service's, else the vocabulary's UK defaults)."""
        if self.definitions.crisis_contacts:
            return [dict(c) for c in self.definitions.crisis_contacts]
        return load_vocabulary().contacts()

    @property
    def factor_ids(self) -> list[str]:
        """Distinct factors present, in definition order (these are what cumulative_risk counts)."""
        return list(dict.fromkeys(f.id for f in self.factors))

    def has(self, factor_id: str) -> bool:
        """Whether the profile found this factor in anyone.

        Parameters
        ----------
        factor_id : str
            A factor id (``perinatal_depression`` …).

        Returns
        -------
        bool
            True when a caregiver or the family has it.
        """
        return any(f.id == factor_id for f in self.factors)

    def caregiver(self, caregiver_id: str) -> CaregiverResult:
        """One caregiver's scores and flags.

        Parameters
        ----------
        caregiver_id : str
            The caregiver's id in the family file.

        Returns
        -------
        CaregiverResult
            Their result.

        Raises
        ------
        KeyError
            No caregiver has this id.
        """
        return content.by_id(self.caregivers, caregiver_id)

    def to_dict(self) -> dict[str, Any]:
        """Machine form: the issue's keys first, then the detail behind them.

        Returns
        -------
        dict
            ``tier``, ``urgent``, ``factors``, ``cumulative_risk``, ``pathways`` … then the
            caregivers, rules fired, screens and what was not assessed, and a ``note``.
        """
        return {
            "tier": self.tier,
            "urgent": self.urgent,
            "urgent_reasons": list(self.urgent_reasons),
            "factors": [f.to_dict() for f in self.factors],
            "cumulative_risk": self.cumulative_risk,
            "pathways": list(self.pathways),
            "urgency": self.urgency,
            "treatment": [t.to_dict() for t in self.treatment],
            "prompts": [p.to_dict() for p in self.prompts],
            "safety_review_completed": self.safety_review_completed,
            "urgent_details": self.urgent_details,
            "crisis_contacts": self.crisis_contacts if self.urgent else [],
            "family_id": self.family_id,
            "assessed_on": self.assessed_on,
            "placement": self.placement,
            "infant": self.infant.to_dict(),
            "infants": [t.to_dict() for t in self.infants],
            "counted_factors": self.factor_ids,
            "pathway_details": self.pathway_details,
            "rules_fired": [r.to_dict() for r in self.rules_fired],
            "screens_positive": self.screens_positive,
            "reviews": self.reviews,
            "caregivers": [c.to_dict() for c in self.caregivers],
            "not_assessed": self.not_assessed,
            "note": NOTE,
        }

    @property
    def _name(self) -> str:
        fid = self.family_id
        return fid if "family" in fid.lower() else f"Family {fid}"

    def _cg_title(self, cid: str | None) -> str:
        if cid is None:
            return "family"
        try:
            return self.caregiver(cid).title
        except KeyError:
            return cid

    def explain(self) -> str:
        """A readable account of the profile, every number traced to its rule and source.

        Returns
        -------
        str
            Lines for staff: timing, tier and urgency (with the crisis contacts when urgent),
            treatment routes, prompts, factors with reasons, pathways and what was not assessed.
        """
        tiers = {t.id: t for t in self.definitions.tiers}
        lines = [f"{self._name}, assessed {self.assessed_on}: {self.infant.describe()}; "
                 f"placement: {self.placement.replace('_', ' ')}."]
        vocab = load_vocabulary()
        level = vocab.level(self.urgency)
        if self.urgency == "emergency":
            lines.insert(0, f"{level.label}. {level.action}")
        lines.append(f"Tier: {tiers[self.tier].label.upper()}" +
                     (f"  + {level.label}" if self.urgent else ""))
        if self.urgent:
            lines.append("Urgent concerns (whatever the tier):" if self.urgency == "emergency" else
                         f"{level.label} (whatever the tier): {level.action}")
            lines += [f"  - {r}" for r in self.urgent_reasons]
            lines.append("  Safety review recorded: " + ("yes" if self.safety_review_completed else
                         "no - matching to programmes is held until it is"))
            lines.append("  Crisis contacts: " + "; ".join(
                f"{c['name']} {c['phone']}" for c in self.crisis_contacts))
        if self.treatment:
            lines.append("Treatment and referral for the caregiver's own health:")
            lines += [f"  - {t.label} [{self._cg_title(t.caregiver)}]: {t.reason}. Contact: "
                      f"{t.contact} ({t.source})" for t in self.treatment]
        if self.prompts:
            lines.append("Prompts:")
            lines += [f"  - [{self._cg_title(p.caregiver)}] {p.text} ({p.source})"
                      for p in self.prompts]
        lines.append(f"Cumulative risk: {self.cumulative_risk} (one point per distinct factor; "
                     "a factor shared by caregivers counts once).")
        if self.factors:
            lines.append("Factors present:")
            for f in self.factors:
                lines.append(f"  - {f.label} [{self._cg_title(f.caregiver)}]: {f.reason}")
        else:
            lines.append("Factors present: none.")
        tier_rules = [r for r in self.rules_fired if r.kind == "tier"]
        lines.append("Tier rules that fired:" if tier_rules else "Tier rules that fired: none "
                     "(universal).")
        lines += [f"  - {r.target}: {r.reason}" for r in tier_rules]
        if self.pathway_details:
            lines.append("Pathways:")
            for p in self.pathway_details:
                lines.append(f"  - {p['label']}: {' | '.join(p['reasons'])}")
        for title, items in (("Screens above threshold:", self.screens_positive),
                             ("For clinician review (local-policy item flags):", self.reviews)):
            if items:
                lines.append(title)
                lines += [f"  - {self._cg_title(s['caregiver'])}: {s['label']} ({s['reason']})"
                          for s in items]
        if self.not_assessed:
            lines.append("Not assessed (no score and nothing recorded):")
            groups: dict[str | None, list[str]] = {}
            for n in self.not_assessed:
                groups.setdefault(n["caregiver"], []).append(n["label"])
            for cid, names in groups.items():
                lines.append(f"  - {self._cg_title(cid)}: {', '.join(names)}")
        lines.append(NOTE)
        return "\n".join(lines)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        tiers = {t.id: t for t in self.definitions.tiers}
        colour = {"universal": "green", "targeted": "yellow", "specialist": "magenta"}[self.tier]
        vocab = load_vocabulary()
        level = vocab.level(self.urgency)
        if self.urgency == "emergency":
            yield Panel(Text(f"{level.label}\n{level.action}", style="bold white on red"),
                        expand=False)
        head = Text()
        head.append(f"Tier: {tiers[self.tier].label}", style=f"bold {colour}")
        if self.urgent:
            head.append(f"   {level.label}", style="bold white on red")
        head.append(f"\n{self.infant.describe()}; placement {self.placement.replace('_', ' ')}; "
                    f"cumulative risk {self.cumulative_risk} (one point per distinct factor)")
        yield Panel(head, title=Text(f"{self._name} - {self.assessed_on}"), expand=False)
        for r in self.urgent_reasons:
            yield Text(f"! {r}", style="bold red")
        if self.urgent:
            yield Text("Safety review recorded: " + ("yes" if self.safety_review_completed else
                       "no - matching to programmes is held until it is"), style="bold red")
            yield Text("Crisis contacts: " + "; ".join(f"{c['name']} {c['phone']}"
                                                       for c in self.crisis_contacts), style="red")
        for t in self.treatment:
            yield Text(f"Treatment - {t.label} [{self._cg_title(t.caregiver)}]: {t.reason}. "
                       f"Contact: {t.contact}", style="bold" if t.urgency != "routine" else "")
        for p in self.prompts:
            yield Text(f"Prompt - [{self._cg_title(p.caregiver)}] {p.text}", style="cyan")
        if self.factors:
            table = Table(title="Factors present", expand=True)
            table.add_column("factor", ratio=1)
            table.add_column("caregiver", ratio=1)
            table.add_column("reason (rule and source)", ratio=3, overflow="fold")
            for f in self.factors:
                table.add_row(Text(f.label), Text(self._cg_title(f.caregiver)), Text(f.reason))
            yield table
        else:
            yield Text("No vulnerability factor present.")
        for r in self.rules_fired:
            if r.kind == "tier":
                yield Text(f"{r.target} rule: {r.reason}", style=colour)
        for p in self.pathway_details:
            yield Text(f"Pathway - {p['label']}: {' | '.join(p['reasons'])}", style="cyan")
        for s in self.screens_positive:
            yield Text(f"Screen - {self._cg_title(s['caregiver'])}: {s['reason']}", style="yellow")
        for r in self.reviews:
            yield Text(f"Review - {self._cg_title(r['caregiver'])}: {r['reason']}", style="yellow")
        groups: dict[str | None, list[str]] = {}
        for n in self.not_assessed:
            groups.setdefault(n["caregiver"], []).append(n["label"])
        for cid, names in groups.items():
            yield Text(f"Not assessed - {self._cg_title(cid)}: {', '.join(names)}", style="dim")
        yield Text(NOTE, style="italic dim")
