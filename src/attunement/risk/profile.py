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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attunement.instruments.definition import short_names
from attunement.risk.config import ProfileConfig, apply_config
from attunement.risk.definitions import (
    TIER_ORDER,
    Definitions,
    DerivedRule,
    Factor,
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
from attunement.risk.results import (
    NOTE,
    ROLE_LABELS,
    CaregiverResult,
    FactorFinding,
    Profile,
    Prompt,
    RuleFired,
    Treatment,
    _fmt,
)
from attunement.risk.urgency import (
    REVIEW_KEY,
    URGENCY_ORDER,
    _prompts,
    _review_completed,
    _treatment,
    _urgent_overlay,
)
from attunement.vocabulary import load_vocabulary

__all__ = [
    "NOTE", "REVIEW_KEY", "ROLE_LABELS", "URGENCY_ORDER", "CaregiverResult", "FactorFinding",
    "Profile", "ProfileChange", "Prompt", "RuleFired", "Treatment", "check_context", "profile",
    "profile_change",
]

INSTRUMENT_NAMES = short_names()  # from the instrument definitions (short_name)


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
    """Check every recorded answer (``context``) is known and recorded at its level.

    The level is family or caregiver; some answers, such as ``safety_review_completed``, may be
    recorded at either.

    Parameters
    ----------
    data : mapping
        A family.
    defs : Definitions, optional
        The definitions; the shipped ones by default.
    source : str, optional
        The file name used in messages.

    Raises
    ------
    FamilyError
        An unknown answer, or one recorded at the wrong level (every one named).

    Examples
    --------
    >>> fam = {"family_id": "F1", "assessed_on": "2025-03-01", "placement": "birth_family",
    ...        "infant": {"date_of_birth": "2025-01-10"}, "context": {"single_carer": True},
    ...        "caregivers": [{"id": "M1", "role": "birth_mother"}]}
    >>> check_context(fam)
    >>> check_context({**fam, "context": {"nope": True}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    attunement.risk.family.FamilyError: invalid family file: context.nope: unknown recorded answer; known at this level: ...
    """
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

    Parameters
    ----------
    family : mapping, str or Path
        A family dict in the family-file format, or a JSON/YAML family file.
    config : ProfileConfig, mapping, str or Path, optional
        A service's thresholds (:func:`~attunement.risk.config.apply_config`).
    definitions : Definitions, optional
        The factor, tier and route definitions; the shipped ones by default.

    Returns
    -------
    Profile
        Tier, urgency, factors with reasons, pathways, treatment routes and prompts.

    Raises
    ------
    FamilyError
        The family is invalid, or a recorded answer is unknown (every field named).
    DefinitionError
        The config names an unknown factor or rule.

    Examples
    --------
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
    """What changed between two profiles of the same family (two time points).

    Parameters
    ----------
    family_id, from_date, to_date : str
        The family and the two dates.
    tier, urgent, cumulative_risk, urgency : tuple
        ``(before, after)``.
    new_factors, resolved_factors : list of dict
        Factors found only after, or only before.
    score_changes : list of dict
        ``caregiver, column, from, to`` for each score measured at both time points.

    Examples
    --------
    See :func:`profile_change`.

    >>> ProfileChange("F1", "2025-03-01", "2025-06-01", ("targeted", "universal"), (False, False),
    ...               (2, 0), [], [], []).tier
    ('targeted', 'universal')
    """

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
        """Machine form of the change, each ``(before, after)`` pair as a two-item list.

        Returns
        -------
        dict
            ``family_id``, ``from``, ``to``, ``tier``, ``urgent``, ``cumulative_risk``,
            ``new_factors``, ``resolved_factors``, ``score_changes`` and ``urgency``.
        """
        return {
            "family_id": self.family_id, "from": self.from_date, "to": self.to_date,
            "tier": list(self.tier), "urgent": list(self.urgent),
            "cumulative_risk": list(self.cumulative_risk), "new_factors": self.new_factors,
            "resolved_factors": self.resolved_factors, "score_changes": self.score_changes,
            "urgency": list(self.urgency),
        }

    def describe(self) -> str:
        """One line for staff: the dates, tier and cumulative risk, then whatever else changed.

        Returns
        -------
        str
            E.g. ``"2025-03-01 -> 2025-06-01: tier targeted -> universal, cumulative risk 2 -> 0"``.
        """
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

    Parameters
    ----------
    before, after : Profile
        The earlier and the later profile.

    Returns
    -------
    ProfileChange
        What changed.

    Raises
    ------
    ValueError
        The profiles are of different families, or in the wrong order.

    Examples
    --------
    A father screened with the PHQ-9 in pregnancy and again after the birth:

    >>> before = {"family_id": "F3", "assessed_on": "2025-02-01", "placement": "birth_family",
    ...           "infant": {"due_date": "2025-04-01"},
    ...           "caregivers": [{"id": "P1", "role": "birth_father",
    ...                           "responses": {"phq9": [2, 2, 2, 1, 1, 1, 1, 1, 0]}}]}
    >>> after = {**before, "assessed_on": "2025-05-01",
    ...          "infant": {"date_of_birth": "2025-04-01"},
    ...          "caregivers": [{"id": "P1", "role": "birth_father",
    ...                          "responses": {"phq9": [0, 1, 0, 0, 1, 0, 0, 0, 0]}}]}
    >>> c = profile_change(profile(before), profile(after))
    >>> c.tier, [f["id"] for f in c.resolved_factors], c.score_changes
    (('targeted', 'universal'), ['perinatal_depression'], [{'caregiver': 'P1', 'column': 'phq9_total', 'from': 11, 'to': 2}])
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
