"""What needs doing now: the urgent overlay (safety items, urgent flags and recorded answers),
whether a safety review is recorded, each caregiver's treatment routes and the prompts of what to
do or ask next."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from attunement.risk.definitions import Definitions
from attunement.risk.family import family_infants, infant_timing
from attunement.risk.results import CaregiverResult, FactorFinding, Prompt, Treatment, _fmt
from attunement.vocabulary import Vocabulary, load_vocabulary

REVIEW_KEY = "safety_review_completed"
URGENCY_ORDER = ("routine", "same_day", "emergency")


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
