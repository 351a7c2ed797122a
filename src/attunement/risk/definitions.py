"""Vulnerability factors, tiers and pathways as validated data (``factors.yaml``, ``tiers.yaml``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from attunement.risk.family import ROLES

LEVELS = ("caregiver", "family")
# A recorded answer (context item, not a factor) may also be allowed at either level.
CONTEXT_LEVELS = (*LEVELS, "any")
OPS = (">=", "<=")
DERIVED_RULES = ("gestation_at_birth_below", "parent_age_below", "placement_in")
TIER_ORDER = ("universal", "targeted", "specialist")
STAGES = ("antenatal", "postnatal")


class DefinitionError(ValueError):
    """A factor, tier or configuration file is invalid; the message names file, entry and field."""


@dataclass(frozen=True)
class ScoreRule:
    column: str
    op: str
    threshold: float
    meaning: str
    source: str
    roles: tuple[str, ...] = ()  # empty: every caregiver role
    stage: str | None = None  # antenatal | postnatal | None (both)
    id: str | None = None  # names the rule for a service's config when a column has several

    def fires(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def applies(self, role: str | None, stage: str) -> bool:
        """Whether this cut-off is the one for this caregiver role and period."""
        return (not self.roles or role in self.roles) and self.stage in (None, stage)


@dataclass(frozen=True)
class DerivedRule:
    rule: str
    meaning: str
    source: str
    threshold: float | None = None
    values: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Factor:
    id: str
    label: str
    description: str
    level: str
    evidence: str
    scores: tuple[ScoreRule, ...] = ()
    recorded: tuple[str, ...] = ()
    derived: tuple[DerivedRule, ...] = ()
    label_not_birth_parent: str | None = None  # the label for a caregiver outside birth_parent_roles

    def label_for(self, role: str | None, birth_parent_roles: tuple[str, ...]) -> str:
        """The label for this caregiver: "Depression", not "Perinatal depression", for a carer
        who is not a birth parent (co-parent, foster, adoptive, kinship carer)."""
        if role is not None and self.label_not_birth_parent and role not in birth_parent_roles:
            return self.label_not_birth_parent
        return self.label

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "level": self.level,
            "evidence": self.evidence,
            "scores": [{**s.__dict__, "roles": list(s.roles)} for s in self.scores],
            "recorded": list(self.recorded),
            "derived": [{**d.__dict__, "values": list(d.values), "roles": list(d.roles)}
                        for d in self.derived],
        }


@dataclass(frozen=True)
class ContextItem:
    id: str
    label: str
    level: str
    description: str


@dataclass(frozen=True)
class UrgentRule:
    id: str
    label: str
    source: str
    instrument: str | None = None
    item: int | None = None
    context: str | None = None


@dataclass(frozen=True)
class TierRule:
    id: str
    label: str
    any_factor: tuple[str, ...] | str | None = None
    factor: str | None = None
    with_other_factors_at_least: int | None = None
    cumulative_risk_at_least: int | None = None
    any_screen_positive: bool = False
    recorded_any: tuple[str, ...] = ()
    urgent_kinds_any: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Tier:
    id: str
    label: str
    description: str
    rules: tuple[TierRule, ...]


@dataclass(frozen=True)
class Pathway:
    id: str
    label: str
    tier: str
    description: str
    when: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class RouteCondition:
    """When a treatment route applies to a caregiver (any listed item found for them)."""

    urgency: str  # routine | same_day | emergency
    factors_any: tuple[str, ...] = ()
    recorded_any: tuple[str, ...] = ()
    urgent_kinds_any: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreatmentRoute:
    """A referral route for a caregiver's own health, configured with a service's local name and
    contact (``treatment_routes.yaml``; a service's ``routes:`` config overrides label/contact)."""

    id: str
    label: str
    contact: str
    description: str
    source: str
    when: tuple[RouteCondition, ...]


@dataclass(frozen=True)
class PromptRule:
    """A rule that prompts the practitioner (``prompts.yaml``)."""

    id: str
    rule: str
    text: str
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Definitions:
    """Everything the profile needs: factors, recorded answers, urgent rules, tiers, pathways."""

    factors: tuple[Factor, ...]
    context_items: tuple[ContextItem, ...]
    urgent: tuple[UrgentRule, ...]
    tiers: tuple[Tier, ...]
    pathways: tuple[Pathway, ...]
    sources: tuple[str, ...] = field(default=())
    ignored_screens: tuple[str, ...] = field(default=())
    screen_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    routes: tuple[TreatmentRoute, ...] = ()
    prompts: tuple[PromptRule, ...] = ()
    birth_parent_roles: tuple[str, ...] = ("birth_mother", "birth_father")
    crisis_contacts: tuple[Mapping[str, str], ...] = ()  # a service's; empty: the vocabulary's

    def route(self, route_id: str) -> TreatmentRoute:
        for r in self.routes:
            if r.id == route_id:
                return r
        raise KeyError(route_id)

    def factor(self, factor_id: str) -> Factor:
        for f in self.factors:
            if f.id == factor_id:
                return f
        raise KeyError(factor_id)

    @property
    def factor_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.factors)

    def context_level(self) -> dict[str, str]:
        """Where each recordable answer belongs: factor or context-item id -> level."""
        levels = {c.id: c.level for c in self.context_items}
        for f in self.factors:
            if f.recorded and f.id in f.recorded:
                levels[f.id] = f.level
        return levels

    def pathway(self, pathway_id: str) -> Pathway:
        for p in self.pathways:
            if p.id == pathway_id:
                return p
        raise KeyError(pathway_id)


def _req(entry: Mapping[str, Any], key: str, where: str, kind: type | tuple = str) -> Any:
    if key not in entry:
        raise DefinitionError(f"{where}: field '{key}' is required")
    value = entry[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise DefinitionError(f"{where}: field '{key}' must be {getattr(kind, '__name__', kind)}, "
                              f"got {value!r}")
    return value


def _parse_factors(doc: Any, src: str) -> tuple[tuple[Factor, ...], tuple[ContextItem, ...]]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("factors"), list):
        raise DefinitionError(f"{src}: expected a mapping with a 'factors' list")
    context_items = []
    for i, entry in enumerate(doc.get("context_items") or []):
        where = f"{src}: context_items[{i}]"
        if not isinstance(entry, Mapping):
            raise DefinitionError(f"{where}: expected a mapping")
        cid = _req(entry, "id", where)
        where = f"{src}: context item '{cid}'"
        level = _req(entry, "level", where)
        if level not in CONTEXT_LEVELS:
            raise DefinitionError(f"{where}: field 'level' must be one of {CONTEXT_LEVELS}, "
                                  f"got {level!r}")
        context_items.append(ContextItem(cid, _req(entry, "label", where), level,
                                         str(entry.get("description", ""))))
    known_context = {c.id for c in context_items}
    factors: list[Factor] = []
    for i, entry in enumerate(doc["factors"]):
        where = f"{src}: factors[{i}]"
        if not isinstance(entry, Mapping):
            raise DefinitionError(f"{where}: expected a mapping")
        fid = _req(entry, "id", where)
        where = f"{src}: factor '{fid}'"
        if fid in {f.id for f in factors}:
            raise DefinitionError(f"{where}: duplicate factor id")
        level = _req(entry, "level", where)
        if level not in LEVELS:
            raise DefinitionError(f"{where}: field 'level' must be one of {LEVELS}, got {level!r}")
        how = _req(entry, "determined_by", where, Mapping)
        unknown = set(how) - {"scores", "recorded", "derived"}
        if unknown:
            raise DefinitionError(f"{where}: determined_by has unknown keys {sorted(unknown)}")
        if not how:
            raise DefinitionError(f"{where}: determined_by names no score, recorded answer or rule")
        scores = []
        for j, s in enumerate(how.get("scores") or []):
            w = f"{where}: determined_by.scores[{j}]"
            op = _req(s, "op", w)
            if op not in OPS:
                raise DefinitionError(f"{w}: field 'op' must be one of {OPS}, got {op!r}")
            roles = tuple(s.get("roles") or ())
            if set(roles) - set(ROLES):
                raise DefinitionError(f"{w}: unknown role(s) {sorted(set(roles) - set(ROLES))}")
            if s.get("stage") not in (None, *STAGES):
                raise DefinitionError(f"{w}: field 'stage' must be one of {STAGES}")
            scores.append(ScoreRule(_req(s, "column", w), op,
                                    float(_req(s, "threshold", w, (int, float))),
                                    _req(s, "meaning", w), " ".join(_req(s, "source", w).split()),
                                    roles, s.get("stage"), s.get("id")))
        recorded = tuple(how.get("recorded") or ())
        for r in recorded:
            if r != fid and r not in known_context:
                raise DefinitionError(f"{where}: recorded answer {r!r} is neither the factor "
                                      "itself nor a context item")
        derived = []
        for j, d in enumerate(how.get("derived") or []):
            w = f"{where}: determined_by.derived[{j}]"
            rule = _req(d, "rule", w)
            if rule not in DERIVED_RULES:
                raise DefinitionError(f"{w}: field 'rule' must be one of {DERIVED_RULES}, got {rule!r}")
            thr = d.get("threshold")
            if rule != "placement_in" and not isinstance(thr, int | float):
                raise DefinitionError(f"{w}: field 'threshold' is required for rule {rule!r}")
            derived.append(DerivedRule(rule, _req(d, "meaning", w), _req(d, "source", w),
                                       float(thr) if thr is not None else None,
                                       tuple(d.get("values") or ()), tuple(d.get("roles") or ())))
        factors.append(Factor(fid, _req(entry, "label", where),
                              str(entry.get("description", "")).strip(), level,
                              _req(entry, "evidence", where).strip(), tuple(scores), recorded,
                              tuple(derived), entry.get("label_not_birth_parent")))
    clash = known_context & {f.id for f in factors}
    if clash:
        raise DefinitionError(f"{src}: ids used both as factor and context item: {sorted(clash)}")
    return tuple(factors), tuple(context_items)


def _parse_tiers(doc: Any, src: str, factor_ids: set[str], context_ids: set[str],
                 kind_ids: tuple[str, ...] = ()
                 ) -> tuple[tuple[UrgentRule, ...], tuple[Tier, ...], tuple[Pathway, ...]]:
    if not isinstance(doc, Mapping):
        raise DefinitionError(f"{src}: expected a mapping")
    screens = doc.get("screens") or {}
    if not isinstance(screens, Mapping) or not isinstance(screens.get("ignore", []), list):
        raise DefinitionError(f"{src}: screens.ignore must be a list of flag ids")
    urgent = []
    for i, r in enumerate(_req(doc, "urgent", src, Mapping).get("rules") or []):
        where = f"{src}: urgent.rules[{i}]"
        rid = _req(r, "id", where)
        rule = UrgentRule(rid, _req(r, "label", where), _req(r, "source", where),
                          r.get("instrument"), r.get("item"), r.get("context"))
        if rule.context is None and (rule.instrument is None or not isinstance(rule.item, int)):
            raise DefinitionError(f"{where}: give 'instrument' and 'item', or 'context'")
        if rule.context is not None and rule.context not in context_ids | factor_ids:
            raise DefinitionError(f"{where}: unknown context item {rule.context!r}")
        urgent.append(rule)
    tiers = []
    for i, t in enumerate(_req(doc, "tiers", src, list)):
        where = f"{src}: tiers[{i}]"
        tid = _req(t, "id", where)
        if tid not in TIER_ORDER:
            raise DefinitionError(f"{where}: tier id must be one of {TIER_ORDER}, got {tid!r}")
        rules = []
        for j, r in enumerate(t.get("rules") or []):
            w = f"{src}: tier '{tid}' rules[{j}]"
            anyf = r.get("any_factor")
            if isinstance(anyf, list):
                bad = [f for f in anyf if f not in factor_ids]
                if bad:
                    raise DefinitionError(f"{w}: unknown factor(s) {bad}")
                anyf = tuple(anyf)
            elif anyf not in (None, "*"):
                raise DefinitionError(f"{w}: any_factor must be a list of factor ids or '*'")
            if r.get("factor") is not None and r["factor"] not in factor_ids:
                raise DefinitionError(f"{w}: unknown factor {r['factor']!r}")
            recorded_any = tuple(r.get("recorded_any") or ())
            if set(recorded_any) - context_ids - factor_ids:
                raise DefinitionError(f"{w}: unknown recorded answer(s) "
                                      f"{sorted(set(recorded_any) - context_ids - factor_ids)}")
            kinds_any = tuple(r.get("urgent_kinds_any") or ())
            if set(kinds_any) - set(kind_ids):
                raise DefinitionError(f"{w}: unknown flag kind(s) {sorted(set(kinds_any) - set(kind_ids))}")
            rule = TierRule(_req(r, "id", w), _req(r, "label", w), anyf, r.get("factor"),
                            r.get("with_other_factors_at_least"), r.get("cumulative_risk_at_least"),
                            bool(r.get("any_screen_positive", False)), recorded_any, kinds_any,
                            " ".join(_req(r, "source", w).split()))
            if (rule.any_factor is None and rule.factor is None and not rule.recorded_any and
                    not rule.urgent_kinds_any and
                    rule.cumulative_risk_at_least is None and not rule.any_screen_positive):
                raise DefinitionError(f"{w}: the rule has no condition")
            rules.append(rule)
        tiers.append(Tier(tid, _req(t, "label", where), str(t.get("description", "")), tuple(rules)))
    if sorted(t.id for t in tiers) != sorted(TIER_ORDER):
        raise DefinitionError(f"{src}: tiers must be exactly {TIER_ORDER}")
    pathways = []
    for i, p in enumerate(_req(doc, "pathways", src, list)):
        where = f"{src}: pathways[{i}]"
        pid = _req(p, "id", where)
        where = f"{src}: pathway '{pid}'"
        tier = _req(p, "tier", where)
        if tier not in TIER_ORDER:
            raise DefinitionError(f"{where}: field 'tier' must be one of {TIER_ORDER}")
        when = _req(p, "when", where, list)
        for j, cond in enumerate(when):
            w = f"{where}: when[{j}]"
            unknown = set(cond) - {"stage", "factors_any", "context_any", "tier_in", "screens_any"}
            if unknown:
                raise DefinitionError(f"{w}: unknown keys {sorted(unknown)}")
            if cond.get("stage") not in (None, *STAGES):
                raise DefinitionError(f"{w}: stage must be one of {STAGES}")
            fa = cond.get("factors_any")
            if isinstance(fa, list) and set(fa) - factor_ids:
                raise DefinitionError(f"{w}: unknown factor(s) {sorted(set(fa) - factor_ids)}")
            ca = cond.get("context_any") or []
            if set(ca) - context_ids - factor_ids:
                raise DefinitionError(f"{w}: unknown context item(s) {sorted(set(ca) - context_ids)}")
            if set(cond.get("tier_in") or []) - set(TIER_ORDER):
                raise DefinitionError(f"{w}: tier_in names an unknown tier")
        pathways.append(Pathway(pid, _req(p, "label", where), tier,
                                str(p.get("description", "")).strip(), tuple(when)))
    return tuple(urgent), tuple(tiers), tuple(pathways)


def _load_yaml(path: Path | None, package_file: str) -> tuple[Any, str]:
    if path is None:
        res = resources.files("attunement.risk").joinpath(package_file)
        return yaml.safe_load(res.read_text("utf-8")), package_file
    try:
        return yaml.safe_load(Path(path).read_text("utf-8")), str(path)
    except FileNotFoundError:
        raise DefinitionError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML ({exc})") from None


URGENCIES = ("routine", "same_day", "emergency")
PROMPT_RULES = {
    # rule -> required parameters
    "score_band": ("column", "at_least", "below_factor"),
    "caregiver_age_below": ("threshold",),
    "not_recorded": ("answers",),
    "urgent_kind": ("kinds",),
    "factor_present": ("factors",),
    "recorded_without_gestation": ("answers",),
}


def _parse_routes(doc: Any, src: str, factor_ids: set[str], context_ids: set[str],
                  kind_ids: tuple[str, ...]) -> tuple[TreatmentRoute, ...]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("routes"), list):
        raise DefinitionError(f"{src}: expected a mapping with a 'routes' list")
    routes: list[TreatmentRoute] = []
    for i, r in enumerate(doc["routes"]):
        where = f"{src}: routes[{i}]"
        if not isinstance(r, Mapping):
            raise DefinitionError(f"{where}: expected a mapping")
        rid = _req(r, "id", where)
        where = f"{src}: route '{rid}'"
        if rid in {x.id for x in routes}:
            raise DefinitionError(f"{where}: duplicate route id")
        conds = []
        for j, c in enumerate(_req(r, "when", where, list)):
            w = f"{where}: when[{j}]"
            if not isinstance(c, Mapping):
                raise DefinitionError(f"{w}: expected a mapping")
            unknown = set(c) - {"urgency", "factors_any", "recorded_any", "urgent_kinds_any", "roles"}
            if unknown:
                raise DefinitionError(f"{w}: unknown keys {sorted(unknown)}")
            urgency = _req(c, "urgency", w)
            if urgency not in URGENCIES:
                raise DefinitionError(f"{w}: field 'urgency' must be one of {URGENCIES}")
            cond = RouteCondition(urgency, tuple(c.get("factors_any") or ()),
                                  tuple(c.get("recorded_any") or ()),
                                  tuple(c.get("urgent_kinds_any") or ()), tuple(c.get("roles") or ()))
            for name, known, got in (("factor", factor_ids, cond.factors_any),
                                     ("recorded answer", context_ids | factor_ids, cond.recorded_any),
                                     ("flag kind", set(kind_ids), cond.urgent_kinds_any),
                                     ("role", set(ROLES), cond.roles)):
                if set(got) - known:
                    raise DefinitionError(f"{w}: unknown {name}(s) {sorted(set(got) - known)}")
            if not (cond.factors_any or cond.recorded_any or cond.urgent_kinds_any):
                raise DefinitionError(f"{w}: the condition names no factor, recorded answer or kind")
            conds.append(cond)
        routes.append(TreatmentRoute(rid, _req(r, "label", where), _req(r, "contact", where),
                                     " ".join(str(r.get("description", "")).split()),
                                     " ".join(_req(r, "source", where).split()), tuple(conds)))
    return tuple(routes)


def _parse_prompts(doc: Any, src: str, factor_ids: set[str], context_ids: set[str],
                   kind_ids: tuple[str, ...]) -> tuple[PromptRule, ...]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("prompts"), list):
        raise DefinitionError(f"{src}: expected a mapping with a 'prompts' list")
    out: list[PromptRule] = []
    for i, p in enumerate(doc["prompts"]):
        where = f"{src}: prompts[{i}]"
        if not isinstance(p, Mapping):
            raise DefinitionError(f"{where}: expected a mapping")
        pid = _req(p, "id", where)
        where = f"{src}: prompt '{pid}'"
        rule = _req(p, "rule", where)
        if rule not in PROMPT_RULES:
            raise DefinitionError(f"{where}: field 'rule' must be one of {sorted(PROMPT_RULES)}")
        params = {k: v for k, v in p.items() if k not in ("id", "rule", "text", "source")}
        unknown = set(params) - {*PROMPT_RULES[rule], "roles"}
        if unknown:
            raise DefinitionError(f"{where}: unknown keys {sorted(unknown)} for rule {rule!r}")
        for key in PROMPT_RULES[rule]:
            if key not in params:
                raise DefinitionError(f"{where}: field '{key}' is required for rule {rule!r}")
        if set(params.get("roles") or ()) - set(ROLES):
            raise DefinitionError(f"{where}: unknown role(s) in 'roles'")
        checks = (("answers", context_ids | factor_ids), ("factors", factor_ids),
                  ("kinds", set(kind_ids)))
        for key, known in checks:
            if set(params.get(key) or ()) - known:
                raise DefinitionError(f"{where}: unknown id(s) in '{key}': "
                                      f"{sorted(set(params[key]) - known)}")
        if rule == "score_band" and params["below_factor"] not in factor_ids:
            raise DefinitionError(f"{where}: unknown factor {params['below_factor']!r}")
        out.append(PromptRule(pid, rule, " ".join(_req(p, "text", where).split()),
                              " ".join(_req(p, "source", where).split()), params))
    return tuple(out)


def load_definitions(factors_path: str | Path | None = None,
                     tiers_path: str | Path | None = None, *,
                     routes_path: str | Path | None = None,
                     prompts_path: str | Path | None = None) -> Definitions:
    """Load and cross-check factor, tier, treatment-route and prompt definitions (the shipped
    ones by default)."""
    if factors_path is None and tiers_path is None and routes_path is None and prompts_path is None:
        return _default_definitions()
    return _build(factors_path, tiers_path, routes_path, prompts_path)


def _build(factors_path: str | Path | None, tiers_path: str | Path | None,
           routes_path: str | Path | None = None, prompts_path: str | Path | None = None
           ) -> Definitions:
    from attunement.vocabulary import load_vocabulary

    kind_ids = load_vocabulary().kind_ids
    fdoc, fsrc = _load_yaml(Path(factors_path) if factors_path else None, "factors.yaml")
    factors, context_items = _parse_factors(fdoc, fsrc)
    fids, cids = {f.id for f in factors}, {c.id for c in context_items}
    birth_parent_roles = tuple(fdoc.get("birth_parent_roles") or ("birth_mother", "birth_father"))
    if set(birth_parent_roles) - set(ROLES):
        raise DefinitionError(f"{fsrc}: birth_parent_roles: unknown role(s) "
                              f"{sorted(set(birth_parent_roles) - set(ROLES))}")
    for rid in (k.recorded for k in load_vocabulary().recorded_kinds()):
        if rid not in cids | fids:
            raise DefinitionError(f"{fsrc}: the vocabulary's recorded answer {rid!r} is not a "
                                  "context item")
    tdoc, tsrc = _load_yaml(Path(tiers_path) if tiers_path else None, "tiers.yaml")
    urgent, tiers, pathways = _parse_tiers(tdoc, tsrc, fids, cids, kind_ids)
    rdoc, rsrc = _load_yaml(Path(routes_path) if routes_path else None, "treatment_routes.yaml")
    routes = _parse_routes(rdoc, rsrc, fids, cids, kind_ids)
    pdoc, psrc = _load_yaml(Path(prompts_path) if prompts_path else None, "prompts.yaml")
    prompts = _parse_prompts(pdoc, psrc, fids, cids, kind_ids)
    ignored = tuple((tdoc.get("screens") or {}).get("ignore") or ())
    return Definitions(factors, context_items, urgent, tiers, pathways, (fsrc, tsrc, rsrc, psrc),
                       ignored, {}, routes, prompts, birth_parent_roles)


@cache
def _default_definitions() -> Definitions:
    return _build(None, None)


# --------------------------------------------------------------------------- service configuration


@dataclass(frozen=True)
class ProfileConfig:
    """A service's local choices: factor thresholds and tier-rule numbers.

    ``thresholds`` maps a factor id to ``{column_or_rule: value}``, e.g.
    ``{"perinatal_depression": {"epds_total": 11}, "teenage_parent": {"parent_age_below": 18}}``; a
    column name sets the general cut-offs on that column, a rule id (``epds_fathers``) sets one rule.
    ``tiers`` maps a tier-rule id to new numbers, e.g. ``{"cumulative_risk": {"cumulative_risk_at_least":
    4}}``. ``crisis_contacts`` replaces the crisis contacts shown with an urgent profile (a list of
    ``{name, phone, note}`` or a JSON/YAML file of one, relative to the config file). ``routes`` sets a treatment route's local name and contact, e.g. ``{"talking_therapies":
    {"label": "Anytown Talking Therapies", "contact": "01234 567890"}}``. ``screens`` passes a service's questionnaire cut-offs to the scorer, e.g.
    ``{"epds": {"possible_depression": 11}}`` (only cut-offs the definition marks configurable).
    The urgent overlay is not configurable: safety items cannot be switched off.
    """

    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tiers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    name: str = "default"
    screens: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    routes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    crisis_contacts: Any = None  # a list of {name, phone, note}, or a path to a JSON/YAML file

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> ProfileConfig:
        if not isinstance(data, Mapping):
            raise DefinitionError(f"{source}: expected a mapping")
        unknown = set(data) - {"thresholds", "tiers", "name", "screens", "routes", "crisis_contacts"}
        if "urgent" in unknown:
            raise DefinitionError(f"{source}: the urgent overlay cannot be configured "
                                  "(safety items cannot be switched off)")
        if unknown:
            raise DefinitionError(f"{source}: unknown keys {sorted(unknown)}")
        routes = data.get("routes") or {}
        if not isinstance(routes, Mapping):
            raise DefinitionError(f"{source}: routes: expected a mapping of route id: "
                                  "{label, contact}")
        return cls(dict(data.get("thresholds") or {}), dict(data.get("tiers") or {}),
                   str(data.get("name", source)), dict(data.get("screens") or {}), dict(routes),
                   data.get("crisis_contacts"))

    @classmethod
    def load(cls, path: str | Path) -> ProfileConfig:
        doc, src = _load_yaml(Path(path), "")
        cc = doc.get("crisis_contacts") if isinstance(doc, Mapping) else None
        if isinstance(cc, str) and not Path(cc).is_absolute():
            doc = {**doc, "crisis_contacts": str(Path(path).parent / cc)}  # relative to the config
        return cls.from_mapping(doc, src)


def apply_config(defs: Definitions, config: ProfileConfig | Mapping[str, Any] | str | Path | None
                 ) -> Definitions:
    """Return definitions with a service's thresholds applied; unknown names raise DefinitionError."""
    if config is None:
        return defs
    if isinstance(config, str | Path):
        config = ProfileConfig.load(config)
    elif not isinstance(config, ProfileConfig):
        config = ProfileConfig.from_mapping(config)
    src = config.name
    factors = {f.id: f for f in defs.factors}
    for fid, changes in config.thresholds.items():
        if fid not in factors:
            raise DefinitionError(f"{src}: thresholds: unknown factor {fid!r}")
        f = factors[fid]
        scores = list(f.scores)
        derived = list(f.derived)
        for key, value in dict(changes).items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise DefinitionError(f"{src}: thresholds.{fid}.{key}: expected a number, got {value!r}")
            # A rule id sets that rule. A column name sets the general cut-offs on it, not a
            # role-specific one (the fathers' EPDS cut-off is set by its own id).
            idx = [i for i, s in enumerate(scores) if s.id == key] or \
                [i for i, s in enumerate(scores) if s.column == key and not s.roles] or \
                [i for i, s in enumerate(scores) if s.column == key]
            didx = [i for i, d in enumerate(derived) if d.rule == key and d.threshold is not None]
            if idx:
                for i in idx:
                    s = scores[i]
                    scores[i] = replace(s, threshold=float(value),
                                        source=f"{s.source}; threshold set by {src}")
            elif didx:
                d = derived[didx[0]]
                derived[didx[0]] = DerivedRule(d.rule, d.meaning, f"{d.source}; threshold set by {src}",
                                               float(value), d.values, d.roles)
            else:
                names = list(dict.fromkeys([s.column for s in f.scores] +
                                           [s.id for s in f.scores if s.id] +
                                           [d.rule for d in f.derived if d.threshold]))
                raise DefinitionError(f"{src}: thresholds.{fid}: {key!r} is not a threshold of this "
                                      f"factor (known: {', '.join(names) or 'none'})")
        factors[fid] = replace(f, scores=tuple(scores), derived=tuple(derived))
    rules = {r.id: (t, r) for t in defs.tiers for r in t.rules}
    new_rules: dict[str, TierRule] = {}
    for rid, changes in config.tiers.items():
        if rid not in rules:
            raise DefinitionError(f"{src}: tiers: unknown tier rule {rid!r} (known: {', '.join(rules)})")
        rule = rules[rid][1]
        updates = {}
        for key, value in dict(changes).items():
            if key not in ("with_other_factors_at_least", "cumulative_risk_at_least") or \
                    getattr(rule, key) is None:
                raise DefinitionError(f"{src}: tiers.{rid}.{key}: not a number of this rule")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise DefinitionError(f"{src}: tiers.{rid}.{key}: expected a whole number >= 0")
            updates[key] = value
        new_rules[rid] = TierRule(**{**copy.copy(rule.__dict__), **updates})
    tiers = tuple(Tier(t.id, t.label, t.description,
                       tuple(new_rules.get(r.id, r) for r in t.rules)) for t in defs.tiers)
    screens = {k: dict(v) for k, v in defs.screen_thresholds.items()}
    for inst_id, cuts in config.screens.items():
        from attunement.instruments import load_instrument
        from attunement.instruments.engine import resolve_thresholds

        if not isinstance(cuts, Mapping):
            raise DefinitionError(f"{src}: screens.{inst_id}: expected a mapping of cut-off: value")
        try:
            resolve_thresholds(load_instrument(inst_id), dict(cuts))
        except (ValueError, KeyError) as exc:
            raise DefinitionError(f"{src}: screens.{inst_id}: {exc}") from None
        screens.setdefault(inst_id, {}).update(cuts)
    routes = list(defs.routes)
    for rid, changes in config.routes.items():
        idx = [i for i, r in enumerate(routes) if r.id == rid]
        if not idx:
            raise DefinitionError(f"{src}: routes: unknown route {rid!r} "
                                  f"(known: {', '.join(r.id for r in routes)})")
        if not isinstance(changes, Mapping):
            raise DefinitionError(f"{src}: routes.{rid}: expected a mapping of label/contact")
        for key, value in changes.items():
            if key not in ("label", "contact"):
                raise DefinitionError(f"{src}: routes.{rid}.{key}: a service sets only the local "
                                      "label and contact (the rule and its source are fixed)")
            if not isinstance(value, str) or not value.strip():
                raise DefinitionError(f"{src}: routes.{rid}.{key}: expected non-empty text")
        routes[idx[0]] = replace(routes[idx[0]], **{k: v.strip() for k, v in changes.items()})
    contacts = defs.crisis_contacts
    if config.crisis_contacts is not None:
        from attunement.vocabulary import VocabularyError, load_vocabulary

        try:
            contacts = tuple(load_vocabulary().with_crisis_contacts(config.crisis_contacts).contacts())
        except VocabularyError as exc:
            raise DefinitionError(f"{src}: crisis_contacts: {exc}") from None
    return replace(defs, factors=tuple(factors[f.id] for f in defs.factors), tiers=tiers,
                   sources=(*defs.sources, src), screen_thresholds=screens, routes=tuple(routes),
                   crisis_contacts=contacts)
