"""The family's cumulative vulnerability profile: factors, urgent overlay, tier and pathways.

Counting rule (Sameroff's cumulative-risk tradition; Sameroff et al. 1987): one point per
*distinct* factor present in the child's environment. A factor found in two caregivers (both
parents with depression) counts once towards ``cumulative_risk``, but every caregiver's finding is
listed in ``factors`` with its own reason, so nothing is hidden from the clinician.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from attunement.instruments.definition import short_names
from attunement.risk.definitions import (
    TIER_ORDER,
    Definitions,
    DerivedRule,
    Factor,
    ProfileConfig,
    apply_config,
    load_definitions,
)
from attunement.risk.family import (
    FamilyError,
    InfantTiming,
    family_infants,
    infant_timing,
    infants_timing,
    load_family,
    validate_family,
)
from attunement.vocabulary import Vocabulary, load_vocabulary

REVIEW_KEY = "safety_review_completed"
URGENCY_ORDER = ("routine", "same_day", "emergency")

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

INSTRUMENT_NAMES = short_names()  # from the instrument definitions (short_name)


@dataclass(frozen=True)
class FactorFinding:
    """One factor found in one caregiver (or in the family as a whole when ``caregiver`` is None)."""

    id: str
    label: str
    caregiver: str | None
    level: str
    reason: str
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "caregiver": self.caregiver, "reason": self.reason,
                "label": self.label, "level": self.level, "evidence": self.evidence}


@dataclass(frozen=True)
class RuleFired:
    """A tier rule, urgent rule or pathway condition that fired, with why."""

    kind: str  # "urgent" | "tier" | "pathway"
    id: str
    target: str  # the tier or pathway it supports, or "urgent"
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "target": self.target, "reason": self.reason}


@dataclass(frozen=True)
class Treatment:
    """A referral route for a caregiver's own health (not an attachment programme).

    ``route`` is a route id of ``treatment_routes.yaml`` (or the service's file); ``caregiver`` is
    None for a family-level concern (e.g. domestic abuse recorded for the household).
    """

    caregiver: str | None
    route: str
    reason: str
    label: str = ""
    contact: str = ""
    source: str = ""
    urgency: str = "routine"

    def to_dict(self) -> dict[str, Any]:
        return {"caregiver": self.caregiver, "route": self.route, "reason": self.reason,
                "label": self.label, "contact": self.contact, "source": self.source,
                "urgency": self.urgency}


@dataclass(frozen=True)
class Prompt:
    """Something the practitioner should do or ask next (e.g. repeat the EPDS in 2 weeks)."""

    id: str
    caregiver: str | None
    text: str
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "caregiver": self.caregiver, "text": self.text, "source": self.source}


@dataclass
class CaregiverResult:
    """A caregiver's scores and flags at this assessment."""

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
        return {"id": self.id, "role": self.role, "age": self.age, "instruments": self.instruments,
                "scores": self.scores, "flags": self.flags}


@dataclass
class Profile:
    """A family's vulnerability profile at one assessment. See :func:`profile`."""

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
        return any(f.id == factor_id for f in self.factors)

    def caregiver(self, caregiver_id: str) -> CaregiverResult:
        for c in self.caregivers:
            if c.id == caregiver_id:
                return c
        raise KeyError(caregiver_id)

    def to_dict(self) -> dict[str, Any]:
        """Machine form: the issue's keys first, then the detail behind them."""
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
        """A readable account of the profile, every number traced to its rule and source."""
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
        if self.screens_positive:
            lines.append("Screens above threshold:")
            for s in self.screens_positive:
                lines.append(f"  - {self._cg_title(s['caregiver'])}: {s['label']} ({s['reason']})")
        if self.reviews:
            lines.append("For clinician review (local-policy item flags):")
            for r in self.reviews:
                lines.append(f"  - {self._cg_title(r['caregiver'])}: {r['label']} ({r['reason']})")
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


# ---------------------------------------------------------------------------------------- scoring


def _flag_dict(flag: Any, instrument: str) -> dict[str, Any]:
    if isinstance(flag, Mapping):
        d = dict(flag)
    else:
        d = {k: getattr(flag, k, None) for k in ("id", "kind", "label", "reason", "source")}
    d.setdefault("instrument", instrument)
    return d


def _clean(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        with contextlib.suppress(ValueError, AttributeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _score(instrument_id: str, responses: Sequence[int | None], where: str, source: str | None,
           thresholds: Mapping[str, float] | None = None, variants: Sequence[str] | None = None
           ) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """Score one questionnaire through attunement.instruments (never a local copy of the keys)."""
    from attunement.instruments import score_responses

    try:
        result = score_responses(instrument_id, list(responses), input="scores",
                                 thresholds=dict(thresholds) if thresholds else None,
                                 variant=list(variants) if variants else None)
    except (ValueError, KeyError, LookupError, TypeError) as exc:
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        raise FamilyError([(where, msg)], source) from None
    scores = {k: _clean(v) for k, v in dict(result.scores).items()}
    flags = [_flag_dict(f, instrument_id) for f in result.flags]
    return scores, flags, list(getattr(result, "item_scores", None) or responses)


# ------------------------------------------------------------------------------------ determination


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _column_label(column: str) -> str:
    inst, _, scale = column.partition("_")
    name = INSTRUMENT_NAMES.get(inst, inst.upper())
    return f"{name} {scale.replace('_', ' ')}"


def _derived_reason(rule: DerivedRule, family: Mapping[str, Any], cg: Mapping[str, Any] | None
                    ) -> str | None:
    if rule.rule == "parent_age_below" and cg is not None:
        if rule.roles and cg["role"] not in rule.roles:
            return None
        age = cg.get("age")
        if age is not None and rule.threshold is not None and age < rule.threshold:
            return (f"age {age} < {_fmt(rule.threshold)} at the assessment on "
                    f"{family['assessed_on']} ({rule.meaning}; {rule.source})")
    elif rule.rule == "placement_in" and cg is None:
        if family["placement"] in rule.values:
            return f"placement recorded as {family['placement']} ({rule.meaning}; {rule.source})"
    elif rule.rule == "gestation_at_birth_below" and cg is None:
        known = [i["gestational_age_at_birth_weeks"] for i in family_infants(family)
                 if i.get("gestational_age_at_birth_weeks") is not None]
        ga = min(known) if known else None
        if ga is not None and rule.threshold is not None and ga < rule.threshold:
            return (f"born at {_fmt(ga)} weeks' gestation < {_fmt(rule.threshold)} "
                    f"({rule.meaning}; {rule.source})")
    return None


def _determine(factor: Factor, family: Mapping[str, Any], cg: Mapping[str, Any] | None,
               scores: Mapping[str, Any], ctx: Mapping[str, bool], ctx_path: str,
               labels: Mapping[str, str]) -> tuple[list[str], bool]:
    """Reasons the factor is present (empty if absent) and whether anything could be checked."""
    reasons: list[str] = []
    checked = False
    role = cg["role"] if cg is not None else None
    stage = "antenatal" if "due_date" in family_infants(family)[0] else "postnatal"
    done_columns: set[str] = set()
    for rule in factor.scores:
        # the first rule on a column that matches this caregiver's role and the period applies
        if rule.column in done_columns or not rule.applies(role, stage):
            continue
        done_columns.add(rule.column)
        value = scores.get(rule.column)
        if value is None:
            continue
        checked = True
        if rule.fires(float(value)):
            sign = {">=": "≥", "<=": "≤"}[rule.op]
            reasons.append(f"{_column_label(rule.column)} {_fmt(value)} {sign} "
                           f"{_fmt(rule.threshold)} ({rule.meaning}; {rule.source})")
    for key in factor.recorded:
        if key in ctx:
            checked = True
            if ctx[key] is True:
                reasons.append(f"recorded answer: {labels.get(key, key)} ({ctx_path}.{key} = true)")
    for rule in factor.derived:
        if rule.rule == "parent_age_below":
            checked = checked or (cg is not None and cg.get("age") is not None)
        elif cg is None:  # placement and gestation at birth are family facts
            checked = True
        why = _derived_reason(rule, family, cg)
        if why:
            reasons.append(why)
    return reasons, checked


def check_context(data: Mapping[str, Any], defs: Definitions | None = None,
                  source: str | None = None) -> None:
    """Check every recorded answer (``context``) is known and recorded at its level (family or
    caregiver; some, such as ``safety_review_completed``, at either). Raises FamilyError."""
    _check_context(data, defs or load_definitions(), source)


def _check_context(data: Mapping[str, Any], defs: Definitions, source: str | None) -> None:
    levels = defs.context_level()
    problems = []
    where = [("context", data.get("context") or {}, "family")]
    where += [(f"caregivers[{i}].context", c.get("context") or {}, "caregiver")
              for i, c in enumerate(data["caregivers"])]
    for path, ctx, level in where:
        for key in ctx:
            if key not in levels:
                known = ", ".join(sorted(k for k, lv in levels.items() if lv in (level, "any")))
                problems.append((f"{path}.{key}", f"unknown recorded answer; known at this level: {known}"))
            elif levels[key] not in (level, "any"):
                other = "the family's context" if levels[key] == "family" else "a caregiver's context"
                problems.append((f"{path}.{key}", f"is a {levels[key]}-level answer; record it in {other}"))
    if problems:
        raise FamilyError(problems, source)


def _as_family(family: Mapping[str, Any] | str | Path) -> tuple[dict[str, Any], str | None]:
    if isinstance(family, str | Path):
        return load_family(family), str(family)
    return validate_family(family), None


def profile(family: Mapping[str, Any] | str | Path, *,
            config: ProfileConfig | Mapping[str, Any] | str | Path | None = None,
            definitions: Definitions | None = None) -> Profile:
    """Build the family's cumulative vulnerability profile.

    ``family`` is a dict in the family-file format or a path to a JSON/YAML family file. Each
    caregiver's questionnaire responses (item scores in item order) are scored with
    :func:`attunement.instruments.score_responses`; each factor in ``factors.yaml`` is then checked
    for every caregiver (caregiver-level) or for the family (family-level), the urgent overlay and
    the tier rules of ``tiers.yaml`` are applied, and the pathways are named.

    ``config`` is a :class:`ProfileConfig`, a mapping or a YAML path with a service's thresholds.

    >>> fam = {"family_id": "DEMO-1", "assessed_on": "2025-03-01",
    ...        "infant": {"date_of_birth": "2025-01-10"}, "placement": "birth_family",
    ...        "caregivers": [{"id": "M1", "role": "birth_mother", "age": 29}]}
    >>> profile(fam).tier
    'universal'
    """
    data, source = _as_family(family)
    defs = apply_config(definitions or load_definitions(), config)
    _check_context(data, defs, source)
    labels = {c.id: c.label for c in defs.context_items} | {f.id: f.label for f in defs.factors}
    timing = infant_timing(data)
    fam_ctx = data.get("context") or {}

    caregivers: list[CaregiverResult] = []
    for i, cg in enumerate(data["caregivers"]):
        res = CaregiverResult(cg["id"], cg["role"], cg.get("age"))
        variants = cg.get("variants") or {}
        for inst in variants:
            if inst not in (cg.get("responses") or {}):
                raise FamilyError([(f"caregivers[{i}].variants.{inst}",
                                    "names an instrument with no responses")], source)
        for inst, answers in (cg.get("responses") or {}).items():
            scores, flags, items = _score(inst, answers, f"caregivers[{i}].responses.{inst}", source,
                                          defs.screen_thresholds.get(inst), variants.get(inst))
            res.item_scores[inst] = items
            res.scores.update(scores)
            res.flags.extend(flags)
            res.instruments.append(inst)
        caregivers.append(res)

    findings: list[FactorFinding] = []
    not_assessed: list[dict[str, Any]] = []
    for factor in defs.factors:
        if factor.level == "caregiver":
            for i, (cg, res) in enumerate(zip(data["caregivers"], caregivers, strict=True)):
                reasons, checked = _determine(factor, data, cg, res.scores, cg.get("context") or {},
                                              f"caregivers[{i}].context", labels)
                if reasons:
                    findings.append(FactorFinding(factor.id,
                                                  factor.label_for(cg["role"], defs.birth_parent_roles),
                                                  cg["id"], factor.level,
                                                  "; ".join(reasons), factor.evidence))
                elif not checked:
                    not_assessed.append({"id": factor.id, "caregiver": cg["id"],
                                         "label": factor.label_for(cg["role"], defs.birth_parent_roles)})
        else:
            reasons, checked = _determine(factor, data, None, {}, fam_ctx, "context", labels)
            if reasons:
                findings.append(FactorFinding(factor.id, factor.label, None, factor.level,
                                              "; ".join(reasons), factor.evidence))
            elif not checked:
                not_assessed.append({"id": factor.id, "label": factor.label, "caregiver": None})

    rules_fired: list[RuleFired] = []
    vocab = load_vocabulary()
    urgent_items = _urgent_overlay(defs, vocab, data, caregivers, fam_ctx)
    for u in urgent_items:
        rules_fired.append(RuleFired("urgent", u["id"], "urgent", u["reason"]))
    urgency = vocab.urgency_of(u["kind"] for u in urgent_items)
    urgent_reasons = [u["reason"] for u in urgent_items]
    covered_instruments = {r.instrument for r in defs.urgent if r.context is None}

    screens = [{"caregiver": res.id, "instrument": fl.get("instrument"), "id": fl.get("id"),
                "label": fl.get("label"), "reason": fl.get("reason"), "source": fl.get("source")}
               for res in caregivers for fl in res.flags
               if fl.get("kind") == "cutoff" and fl.get("id") not in defs.ignored_screens]

    # Item-level review flags (local policy, e.g. MAAS items 12/19) are shown, not scored as
    # screens; PBQ items 18/24 are already in the urgent overlay above.
    reviews = [{"caregiver": res.id, "instrument": fl.get("instrument"), "id": fl.get("id"),
                "label": fl.get("label"), "reason": fl.get("reason"), "source": fl.get("source")}
               for res in caregivers for fl in res.flags
               if (k := vocab.kind_of(fl)) is not None and k.id == "review"
               and fl.get("instrument") not in covered_instruments]

    distinct = list(dict.fromkeys(f.id for f in findings))
    recorded_all = {k for k, v in fam_ctx.items() if v is True}
    for cg in data["caregivers"]:
        recorded_all |= {k for k, v in (cg.get("context") or {}).items() if v is True}
    cumulative = len(distinct)
    fired_tiers: list[str] = []
    for tier in sorted(defs.tiers, key=lambda t: -TIER_ORDER.index(t.id)):
        for rule in tier.rules:
            why = _tier_rule_reason(rule, distinct, cumulative, screens, labels, recorded_all,
                                    urgent_items)
            if why:
                fired_tiers.append(tier.id)
                rules_fired.append(RuleFired("tier", rule.id, tier.id, f"{rule.label}: {why}"))
    tier = fired_tiers[0] if fired_tiers else "universal"

    pathways, details = _pathways(defs, timing, distinct, fam_ctx, data, tier, screens, labels)
    for d in details:
        for r in d["reasons"]:
            rules_fired.append(RuleFired("pathway", d["id"], d["id"], r))

    return Profile(
        family_id=data["family_id"], assessed_on=data["assessed_on"], tier=tier,
        urgent=urgency != "none", urgent_reasons=urgent_reasons, factors=findings,
        cumulative_risk=cumulative, pathways=pathways, pathway_details=details,
        caregivers=caregivers, rules_fired=rules_fired, infant=timing,
        placement=data["placement"], not_assessed=not_assessed, screens_positive=screens,
        definitions=defs, reviews=reviews, urgency=urgency,
        safety_review_completed=_review_completed(urgent_items, data, fam_ctx),
        urgent_details=urgent_items,
        treatment=_treatment(defs, data, findings, urgent_items, fam_ctx),
        prompts=_prompts(defs, data, caregivers, findings, urgent_items, fam_ctx),
        infants=infants_timing(data),
    )


def _treatment(defs: Definitions, data: Mapping[str, Any], findings: list[FactorFinding],
               urgent_items: list[dict[str, Any]], fam_ctx: Mapping[str, Any]) -> list[Treatment]:
    """Routes for each caregiver's own health (``treatment_routes.yaml``), most urgent first."""
    labels = {c.id: c.label for c in defs.context_items} | {f.id: f.label for f in defs.factors}
    kinds = {k.id: k.label for k in load_vocabulary().kinds}
    family_factors = {f.id for f in findings if f.caregiver is None}
    family_recorded = {k for k, v in fam_ctx.items() if v is True}
    family_kinds = {u["kind"] for u in urgent_items if u["caregiver"] is None}
    who: list[tuple[str | None, str | None, set[str], set[str], set[str]]] = [
        (None, None, family_factors, family_recorded, family_kinds)]
    for cg in data["caregivers"]:
        who.append((cg["id"], cg["role"], {f.id for f in findings if f.caregiver == cg["id"]},
                    {k for k, v in (cg.get("context") or {}).items() if v is True},
                    {u["kind"] for u in urgent_items if u["caregiver"] == cg["id"]}))
    out: list[Treatment] = []
    for route in defs.routes:
        for cid, role, factors, recorded, kinds_found in who:
            best: tuple[str, list[str]] | None = None
            for cond in route.when:
                if cond.roles and role not in cond.roles:
                    continue
                hits = ([labels.get(f, f) for f in cond.factors_any if f in factors] +
                        [f"recorded: {labels.get(r, r)}" for r in cond.recorded_any if r in recorded] +
                        [kinds.get(k, k) for k in cond.urgent_kinds_any if k in kinds_found])
                if hits and (best is None or
                             URGENCY_ORDER.index(cond.urgency) > URGENCY_ORDER.index(best[0])):
                    best = (cond.urgency, hits)
            if best is not None:
                when = {"emergency": "now (emergency)", "same_day": "today",
                        "routine": "routine referral"}[best[0]]
                out.append(Treatment(cid, route.id, f"{'; '.join(best[1])} - {when}", route.label,
                                     route.contact, route.source, best[0]))
    out.sort(key=lambda t: -URGENCY_ORDER.index(t.urgency))
    return out


def _prompts(defs: Definitions, data: Mapping[str, Any], caregivers: list[CaregiverResult],
             findings: list[FactorFinding], urgent_items: list[dict[str, Any]],
             fam_ctx: Mapping[str, Any]) -> list[Prompt]:
    """What to do or ask next (``prompts.yaml``), each with its source."""
    labels = {c.id: c.label for c in defs.context_items} | {f.id: f.label for f in defs.factors}
    stage = infant_timing(data).stage
    out: list[Prompt] = []
    for rule in defs.prompts:
        prm = rule.params
        roles = prm.get("roles") or ()
        if rule.rule == "factor_present":
            hit = [f for f in findings if f.id in prm["factors"]]
            cids = list(dict.fromkeys(f.caregiver for f in hit))
            for cid in cids[:1] if None in cids else cids:
                out.append(Prompt(rule.id, cid, rule.text, rule.source))
            continue
        if rule.rule == "recorded_without_gestation":
            known = any(i.get("gestational_age_at_birth_weeks") is not None
                        for i in family_infants(data))
            if not known and any(fam_ctx.get(a) is True for a in prm["answers"]):
                out.append(Prompt(rule.id, None, rule.text, rule.source))
            continue
        for cg, res in zip(data["caregivers"], caregivers, strict=True):
            if roles and cg["role"] not in roles:
                continue
            ctx = cg.get("context") or {}
            fill = {"caregiver": res.title, "age": cg.get("age")}
            if rule.rule == "score_band":
                value = res.scores.get(prm["column"])
                factor = defs.factor(prm["below_factor"])
                cut = next((r for r in factor.scores if r.column == prm["column"]
                            and r.applies(cg["role"], stage)), None)
                if value is None or cut is None or not prm["at_least"] <= value < cut.threshold:
                    continue
                fill |= {"value": _fmt(value), "at_least": _fmt(prm["at_least"]),
                         "below": _fmt(cut.threshold - 1)}
            elif rule.rule == "caregiver_age_below":
                if cg.get("age") is None or cg["age"] >= prm["threshold"]:
                    continue
            elif rule.rule == "not_recorded":
                missing = [a for a in prm["answers"] if a not in ctx]
                if not missing:
                    continue
                fill["missing"] = "; ".join(labels.get(a, a).lower() for a in missing)
            elif rule.rule == "urgent_kind" and not any(
                    u["caregiver"] == cg["id"] and u["kind"] in prm["kinds"] for u in urgent_items):
                continue
            out.append(Prompt(rule.id, cg["id"], rule.text.format(**fill), rule.source))
    return out


def _urgent_overlay(defs: Definitions, vocab: Vocabulary, data: Mapping[str, Any],
                    caregivers: list[CaregiverResult], fam_ctx: Mapping[str, Any]
                    ) -> list[dict[str, Any]]:
    """Every urgent finding ``{caregiver, kind, id, reason}``, emergencies first.

    Safety items are read from the answers themselves so a missing item is never taken as "no";
    every other urgent kind comes from the vocabulary (instrument flags re-classified there, e.g.
    any harm-to-baby item, and recorded answers such as suspected psychosis).
    """
    items: list[dict[str, Any]] = []

    def add(cid: str | None, kind: str, rid: str, text: str) -> None:
        items.append({"caregiver": cid, "kind": kind, "id": rid, "reason": text})

    cgs = list(zip(caregivers, data["caregivers"], strict=True))
    recorded = {k.recorded: k for k in vocab.recorded_kinds()}
    for rule in defs.urgent:  # a service's tiers file may still name a recorded answer
        if rule.context is not None and rule.context not in recorded:
            recorded[rule.context] = replace(vocab.kind("safeguarding_concern"), id=rule.id,
                                             label=rule.label, source=rule.source)
    for key, kind in recorded.items():
        kid = kind.id if kind.id in vocab.kind_ids else "safeguarding_concern"
        if fam_ctx.get(key) is True:
            add(None, kid, kind.id, f"family: {kind.label} (context.{key} = true; {kind.source})")
        for res, cg in cgs:
            if (cg.get("context") or {}).get(key) is True:
                add(res.id, kid, kind.id,
                    f"{res.title}: {kind.label} (context.{key} = true; {kind.source})")
    covered = set()
    for rule in defs.urgent:
        if rule.context is not None:
            continue
        covered.add(rule.instrument)
        for res in caregivers:
            answers = res.item_scores.get(rule.instrument)
            if answers is None or rule.item is None:
                continue
            value = answers[rule.item - 1] if len(answers) >= rule.item else None
            if value is None:
                add(res.id, "safety_unanswered", rule.id,
                    f"{res.title}: {rule.label} not answered - ask directly "
                    f"(a missing safety item is never taken as 'no'; {rule.source})")
            elif value > 0:
                add(res.id, "safety", rule.id,
                    f"{res.title}: {rule.label} scored {value} (> 0; {rule.source})")
    for res in caregivers:
        for fl in res.flags:
            kind = vocab.kind_of(fl)
            if kind is None or not kind.urgent or fl.get("instrument") in covered:
                continue
            if kind.id == "harm_to_baby":  # the prompt harm_thoughts_guidance says how to review it
                text = f"{res.title}: {kind.label} ({fl.get('reason')}; {kind.source})"
            else:
                text = f"{res.title}: {fl.get('label')} ({fl.get('reason')}; {fl.get('source')})"
            add(res.id, kind.id, str(fl.get("id")), text)
    rank = {k.id: k.urgency for k in vocab.kinds}
    items.sort(key=lambda u: rank.get(u["kind"]) != "emergency")
    return items


def _review_completed(urgent_items: list[dict[str, Any]], data: Mapping[str, Any],
                      fam_ctx: Mapping[str, Any]) -> bool:
    """A safety review is recorded: in the family's context, or in the context of every caregiver
    with an urgent finding (a family-level finding needs the family's record)."""
    if fam_ctx.get(REVIEW_KEY) is True:
        return True
    done = {cg["id"] for cg in data["caregivers"] if (cg.get("context") or {}).get(REVIEW_KEY) is True}
    if not urgent_items:
        return bool(done)
    return all(u["caregiver"] is not None and u["caregiver"] in done for u in urgent_items)


def _tier_rule_reason(rule: Any, distinct: list[str], cumulative: int,
                      screens: list[dict[str, Any]], labels: Mapping[str, str],
                      recorded: set[str] | None = None,
                      urgent_items: list[dict[str, Any]] | None = None) -> str | None:
    names = lambda ids: ", ".join(labels.get(i, i) for i in ids)  # noqa: E731
    if rule.urgent_kinds_any:
        hits = [u for u in urgent_items or [] if u["kind"] in rule.urgent_kinds_any]
        if not hits:
            return None
        who = ", ".join(dict.fromkeys(u["caregiver"] or "family" for u in hits))
        return f"{who} ({rule.source})"
    if rule.recorded_any:
        hit = [r for r in rule.recorded_any if r in (recorded or set())]
        return f"recorded: {names(hit)} ({rule.source})" if hit else None
    if rule.any_factor == "*":
        return f"{names(distinct)}" if distinct else None
    if rule.any_factor:
        hit = [f for f in rule.any_factor if f in distinct]
        return names(hit) if hit else None
    if rule.factor is not None:
        others = [f for f in distinct if f != rule.factor]
        need = rule.with_other_factors_at_least or 0
        if rule.factor in distinct and len(others) >= need:
            return f"{labels.get(rule.factor)} with {len(others)} other factor(s) ≥ {need}: {names(others)}"
        return None
    if rule.cumulative_risk_at_least is not None:
        if cumulative >= rule.cumulative_risk_at_least:
            return f"cumulative risk {cumulative} ≥ {rule.cumulative_risk_at_least}"
        return None
    if rule.any_screen_positive and screens:
        return "; ".join(f"{s['caregiver']}: {s['label']}" for s in screens)
    return None


def _pathways(defs: Definitions, timing: InfantTiming, distinct: list[str],
              fam_ctx: Mapping[str, bool], data: Mapping[str, Any], tier: str,
              screens: list[dict[str, Any]], labels: Mapping[str, str]
              ) -> tuple[list[str], list[dict[str, Any]]]:
    recorded = {k for k, v in fam_ctx.items() if v is True}
    for cg in data["caregivers"]:
        recorded |= {k for k, v in (cg.get("context") or {}).items() if v is True}
    screened = {s["instrument"] for s in screens}
    ids: list[str] = []
    details: list[dict[str, Any]] = []
    for p in defs.pathways:
        reasons = []
        for cond in p.when:
            parts = []
            if "stage" in cond:
                if timing.stage != cond["stage"]:
                    continue
                parts.append(timing.stage)
            if "tier_in" in cond:
                if tier not in cond["tier_in"]:
                    continue
                parts.append(f"{tier} tier")
            if "factors_any" in cond:
                want = distinct if cond["factors_any"] == "*" else cond["factors_any"]
                hit = [f for f in distinct if f in want]
                if not hit:
                    continue
                parts.append("factors: " + ", ".join(labels.get(f, f) for f in hit))
            if "context_any" in cond:
                hit = [c for c in cond["context_any"] if c in recorded]
                if not hit:
                    continue
                parts.append("recorded: " + ", ".join(labels.get(c, c) for c in hit))
            if "screens_any" in cond:
                want = screened if cond["screens_any"] == "*" else set(cond["screens_any"])
                hit = sorted(screened & want)
                if not hit:
                    continue
                parts.append("positive screen: " + ", ".join(INSTRUMENT_NAMES.get(h, h) for h in hit))
            reasons.append("; ".join(parts))
        if reasons:
            ids.append(p.id)
            details.append({"id": p.id, "label": p.label, "tier": p.tier, "reasons": reasons})
    return ids, details


@dataclass(frozen=True)
class ProfileChange:
    """What changed between two profiles of the same family (two time points)."""

    family_id: str
    from_date: str
    to_date: str
    tier: tuple[str, str]
    urgent: tuple[bool, bool]
    cumulative_risk: tuple[int, int]
    new_factors: list[dict[str, Any]]
    resolved_factors: list[dict[str, Any]]
    score_changes: list[dict[str, Any]]
    urgency: tuple[str, str] = ("none", "none")

    def to_dict(self) -> dict[str, Any]:
        return {
            "family_id": self.family_id, "from": self.from_date, "to": self.to_date,
            "tier": list(self.tier), "urgent": list(self.urgent),
            "cumulative_risk": list(self.cumulative_risk), "new_factors": self.new_factors,
            "resolved_factors": self.resolved_factors, "score_changes": self.score_changes,
            "urgency": list(self.urgency),
        }

    def describe(self) -> str:
        parts = [f"{self.from_date} -> {self.to_date}: tier {self.tier[0]} -> {self.tier[1]}, "
                 f"cumulative risk {self.cumulative_risk[0]} -> {self.cumulative_risk[1]}"]
        if self.urgency[0] != self.urgency[1]:
            parts.append(f"urgency {self.urgency[0]} -> {self.urgency[1]}")
        if self.new_factors:
            parts.append("new: " + ", ".join(f"{f['label']} ({f['caregiver'] or 'family'})"
                                              for f in self.new_factors))
        if self.resolved_factors:
            parts.append("no longer present: " + ", ".join(
                f"{f['label']} ({f['caregiver'] or 'family'})" for f in self.resolved_factors))
        if self.score_changes:
            parts.append("scores: " + ", ".join(
                f"{c['caregiver']} {c['column']} {_fmt(c['from'])} -> {_fmt(c['to'])}"
                for c in self.score_changes))
        return "; ".join(parts)


def profile_change(before: Profile, after: Profile) -> ProfileChange:
    """Compare two profiles of one family (earlier first): tier, factors and score changes.

    Only scores measured at both time points are compared; nothing is inferred for an instrument
    given once.
    """
    if before.family_id != after.family_id:
        raise ValueError(f"profiles are for different families: {before.family_id!r} and "
                         f"{after.family_id!r}")
    if before.assessed_on > after.assessed_on:
        raise ValueError(f"the first profile ({before.assessed_on}) is later than the second "
                         f"({after.assessed_on}); pass the earlier one first")
    key = lambda f: (f.id, f.caregiver)  # noqa: E731
    old = {key(f): f for f in before.factors}
    new = {key(f): f for f in after.factors}
    as_dict = lambda f: {"id": f.id, "label": f.label, "caregiver": f.caregiver}  # noqa: E731
    changes = []
    for cg in after.caregivers:
        try:
            prev = before.caregiver(cg.id)
        except KeyError:
            continue
        for col, value in cg.scores.items():
            was = prev.scores.get(col)
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, was))
            if numeric and col.endswith("_total") and value != was:
                changes.append({"caregiver": cg.id, "column": col, "from": was, "to": value})
    return ProfileChange(
        after.family_id, before.assessed_on, after.assessed_on, (before.tier, after.tier),
        (before.urgent, after.urgent), (before.cumulative_risk, after.cumulative_risk),
        [as_dict(f) for k, f in new.items() if k not in old],
        [as_dict(f) for k, f in old.items() if k not in new], changes,
        (before.urgency, after.urgency),
    )
