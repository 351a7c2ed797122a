"""Vulnerability factors, tiers and pathways as validated data (``factors.yaml``, ``tiers.yaml``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from attunement import content
from attunement.content import DefinitionError
from attunement.vocabulary import birth_parent_roles, load_vocabulary, vocabulary_terms

LEVELS = ("caregiver", "family")
# A recorded answer (context item, not a factor) may also be allowed at either level.
CONTEXT_LEVELS = (*LEVELS, "any")
OPS = (">=", "<=")
DERIVED_RULES = ("gestation_at_birth_below", "parent_age_below", "placement_in")
TIER_ORDER = ("universal", "targeted", "specialist")
STAGES = ("antenatal", "postnatal")


@dataclass(frozen=True)
class ScoreRule:
    """A questionnaire cut-off that counts a factor: ``column op threshold``, for some roles and periods.

    Parameters
    ----------
    column : str
        The score column (``epds_total``).
    op : {">=", "<="}
        The comparison.
    threshold : float
        The cut-off.
    meaning, source : str
        What it means and its published source.
    roles : tuple of str
        The caregiver roles it is for (empty: every role).
    stage : {"antenatal", "postnatal"}, optional
        The period it is for (None: both).
    id : str, optional
        Names the rule for a service's config when a column has several.

    Examples
    --------
    >>> rule = load_definitions().factor("perinatal_depression").scores[0]
    >>> rule.id, rule.fires(12), rule.applies("birth_mother", "postnatal")
    ('epds_fathers', True, False)
    """
    column: str
    op: str
    threshold: float
    meaning: str
    source: str
    roles: tuple[str, ...] = ()  # empty: every caregiver role
    stage: str | None = None  # antenatal | postnatal | None (both)
    id: str | None = None  # names the rule for a service's config when a column has several

    def fires(self, value: float) -> bool:
        """Whether a score meets this cut-off (``value op threshold``).

        Parameters
        ----------
        value : float
            The caregiver's score on ``column``.

        Returns
        -------
        bool
            True when the factor is found by this rule.
        """
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def applies(self, role: str | None, stage: str) -> bool:
        """Whether this cut-off is the one for this caregiver role and period.

        Parameters
        ----------
        role : str or None
            The caregiver's role (``birth_mother`` …); None matches only a rule for every role.
        stage : {"antenatal", "postnatal"}
            The period of the assessment.

        Returns
        -------
        bool
            True when the rule covers both.
        """
        return (not self.roles or role in self.roles) and self.stage in (None, stage)


@dataclass(frozen=True)
class DerivedRule:
    """A factor derived from recorded facts (gestation at birth, a parent's age, a placement).

    Parameters
    ----------
    rule : {"gestation_at_birth_below", "parent_age_below", "placement_in"}
        The kind of rule.
    meaning, source : str
        What it means and its source.
    threshold : float, optional
        The number for the ``*_below`` rules.
    values : tuple of str
        The values for ``placement_in``.
    roles : tuple of str
        The caregiver roles it is for (empty: every role).

    Examples
    --------
    >>> f = load_definitions().factor("pregnancy_birth_complications")
    >>> f.derived[0].rule, f.derived[0].threshold
    ('gestation_at_birth_below', 34.0)
    """
    rule: str
    meaning: str
    source: str
    threshold: float | None = None
    values: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Factor:
    """A vulnerability factor: how it is found (scores, recorded answers, derived rules) and its source.

    Parameters
    ----------
    id, label, description : str
        The factor's id, label and meaning.
    level : {"caregiver", "family"}
        Whom it belongs to.
    evidence : str
        The evidence for it as a factor.
    scores, recorded, derived
        The score rules, the recorded answers and the derived rules that find it.
    label_not_birth_parent : str, optional
        The label for a caregiver who is not a birth parent.

    Examples
    --------
    >>> f = load_definitions().factor("perinatal_depression")
    >>> f.label, f.level, f.label_for("co_parent", ("birth_mother",))
    ('Perinatal depression', 'caregiver', 'Depression')
    """
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
        who is not a birth parent (co-parent, foster, adoptive, kinship carer).

        Parameters
        ----------
        role : str or None
            The caregiver's role; None (a family-level finding) keeps the main label.
        birth_parent_roles : tuple of str
            The roles that are birth parents (:attr:`Definitions.birth_parent_roles`).

        Returns
        -------
        str
            The label to show.
        """
        if role is not None and self.label_not_birth_parent and role not in birth_parent_roles:
            return self.label_not_birth_parent
        return self.label

    def to_dict(self) -> dict[str, Any]:
        """The factor's definition as plain data (the non-birth-parent label left out).

        Returns
        -------
        dict
            Field name -> value, the rules as nested dicts.
        """
        return content.plain(self, omit=("label_not_birth_parent",))


@dataclass(frozen=True)
class ContextItem:
    """A recorded answer that is not itself a factor (e.g. a safeguarding concern).

    Parameters
    ----------
    id, label, level, description : str
        The answer's id, label, level (caregiver, family or any) and meaning.

    Examples
    --------
    >>> load_definitions().context_items[0].id
    'safeguarding_concern'
    """
    id: str
    label: str
    level: str
    description: str


@dataclass(frozen=True)
class UrgentRule:
    """A rule of the urgent overlay: a questionnaire item or a recorded answer that makes a profile urgent.

    Parameters
    ----------
    id, label, source : str
        The rule's id, label and published source.
    instrument : str, optional
        With ``item``: the questionnaire item.
    item : int, optional
        The item number.
    context : str, optional
        The recorded answer, for a rule on one.

    Examples
    --------
    >>> r = load_definitions().urgent[0]
    >>> r.instrument, r.item
    ('epds', 10)
    """
    id: str
    label: str
    source: str
    instrument: str | None = None
    item: int | None = None
    context: str | None = None


@dataclass(frozen=True)
class TierRule:
    """One way into a care tier (any of a tier's rules places the family there).

    Parameters
    ----------
    id, label, source : str
        The rule's id, label and source.
    any_factor, factor : optional
        Any of these factors; or this factor ...
    with_other_factors_at_least : int, optional
        ... with at least this many other factors.
    cumulative_risk_at_least : int, optional
        At least this many factors in all.
    any_screen_positive : bool
        Any positive screen.
    recorded_any, urgent_kinds_any : tuple of str
        Any of these recorded answers, or urgent flags of these kinds.

    Examples
    --------
    >>> load_definitions().tiers[0].rules[0].urgent_kinds_any
    ('harm_to_baby',)
    """
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
    """A care tier (universal, targeted, specialist) and the rules that place a family in it.

    Parameters
    ----------
    id, label, description : str
        The tier's id, label and meaning.
    rules : tuple of TierRule
        Any of them places the family in the tier.

    Examples
    --------
    >>> [t.id for t in load_definitions().tiers]
    ['specialist', 'targeted', 'universal']
    """
    id: str
    label: str
    description: str
    rules: tuple[TierRule, ...]


@dataclass(frozen=True)
class Pathway:
    """A care pathway within a tier and the conditions that suggest it.

    Parameters
    ----------
    id, label, tier, description : str
        The pathway's id, label, tier and meaning.
    when : tuple of mapping
        The conditions (any of them).

    Examples
    --------
    >>> p = load_definitions().pathways[0]
    >>> p.id, p.tier
    ('antenatal_risk', 'targeted')
    """
    id: str
    label: str
    tier: str
    description: str
    when: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class RouteCondition:
    """When a treatment route applies to a caregiver (any listed item found for them).

    Parameters
    ----------
    urgency : {"routine", "same_day", "emergency"}
        How soon.
    factors_any, recorded_any, urgent_kinds_any : tuple of str
        Any of these factors, recorded answers or urgent flag kinds.
    roles : tuple of str
        The caregiver roles it is for (empty: every role).

    Examples
    --------
    >>> load_definitions().route("crisis_team").when[0].urgency
    'emergency'
    """

    urgency: str  # routine | same_day | emergency
    factors_any: tuple[str, ...] = ()
    recorded_any: tuple[str, ...] = ()
    urgent_kinds_any: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreatmentRoute:
    """A referral route for a caregiver's own health, configured with a service's local name and
    contact (``treatment_routes.yaml``; a service's ``routes:`` config overrides label/contact).

    Parameters
    ----------
    id, label, contact, description, source : str
        The route's id, local name, contact, meaning and source.
    when : tuple of RouteCondition
        When it applies.

    Examples
    --------
    >>> load_definitions().route("crisis_team").when[0].urgent_kinds_any
    ('suspected_psychosis', 'harm_intent')
    """

    id: str
    label: str
    contact: str
    description: str
    source: str
    when: tuple[RouteCondition, ...]


@dataclass(frozen=True)
class PromptRule:
    """A rule that prompts the practitioner (``prompts.yaml``).

    Parameters
    ----------
    id, rule, text, source : str
        The prompt's id, the kind of rule, the text shown (with ``{placeholders}``) and its source.
    params : mapping
        The rule's numbers and names.

    Examples
    --------
    >>> p = load_definitions().prompts[0]
    >>> p.id, p.rule, p.params["column"]
    ('epds_repeat_borderline', 'score_band', 'epds_total')
    """

    id: str
    rule: str
    text: str
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Definitions:
    """Everything the profile needs: factors, recorded answers, urgent rules, tiers, pathways.

    Parameters
    ----------
    factors, context_items, urgent, tiers, pathways
        The loaded content.
    sources : tuple of str
        The files it came from.
    ignored_screens : tuple of str
        Screens a service has switched off.
    screen_thresholds : mapping
        A service's questionnaire cut-offs, passed to the scorer.
    routes, prompts
        The treatment routes and practitioner prompts.
    birth_parent_roles : tuple of str
        The caregiver roles that are birth parents.
    crisis_contacts : tuple of mapping
        A service's crisis contacts (empty: the vocabulary's).

    Examples
    --------
    >>> d = load_definitions()
    >>> len(d.factors), d.factor_ids[:2]
    (16, ('perinatal_depression', 'perinatal_anxiety'))
    >>> d.factor("nope")
    Traceback (most recent call last):
    ...
    KeyError: 'nope'
    """

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
    birth_parent_roles: tuple[str, ...] = field(default_factory=birth_parent_roles)
    crisis_contacts: tuple[Mapping[str, str], ...] = ()  # a service's; empty: the vocabulary's

    def route(self, route_id: str) -> TreatmentRoute:
        """A treatment route by id, with the service's local label and contact.

        Parameters
        ----------
        route_id : str
            The route (``talking_therapies``, ``crisis_team`` …).

        Returns
        -------
        TreatmentRoute
            The route and when it applies.
        """
        return content.by_id(self.routes, route_id)

    def factor(self, factor_id: str) -> Factor:
        """The definition of one vulnerability factor.

        Parameters
        ----------
        factor_id : str
            Its id.

        Returns
        -------
        Factor
            How it is found and its evidence.

        Raises
        ------
        KeyError
            No factor has this id.
        """
        return content.by_id(self.factors, factor_id)

    @property
    def factor_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.factors)

    def context_level(self) -> dict[str, str]:
        """Where each recordable answer belongs: factor or context-item id -> level.

        Returns
        -------
        dict
            Id -> ``caregiver``, ``family`` or ``any``, for the context items and for the factors
            recorded as answers themselves.
        """
        levels = {c.id: c.level for c in self.context_items}
        for f in self.factors:
            if f.recorded and f.id in f.recorded:
                levels[f.id] = f.level
        return levels

    def pathway(self, pathway_id: str) -> Pathway:
        """Look up a care pathway by its id (as listed in ``tiers.yaml``).

        Parameters
        ----------
        pathway_id : str
            E.g. ``antenatal_risk``.

        Returns
        -------
        Pathway
            Its tier, meaning and conditions.
        """
        return content.by_id(self.pathways, pathway_id)


def _unknown(got: Any, known: set[str], file: str, path: str, what: str) -> None:
    """Raise when ``got`` (ids) names something that does not exist."""
    bad = sorted(set(got or ()) - known)
    if bad:
        raise DefinitionError(f"unknown {what}(s) {bad}", file=file, path=path)


def _unique(ids: list[str], file: str, section: str, what: str) -> None:
    for i, x in enumerate(ids):
        if x in ids[:i]:
            raise DefinitionError(f"duplicate {what} id {x!r}", file=file, path=f"{section}[{i}].id")


def _words(value: Any) -> str:
    return " ".join(str(value or "").split())


def _parse_factors(doc: Any, src: str) -> tuple[tuple[Factor, ...], tuple[ContextItem, ...]]:
    content.validate(doc, "factors", file=src, terms=vocabulary_terms(), error=DefinitionError)
    context_items = tuple(ContextItem(c["id"], c["label"], c["level"], str(c.get("description", "")))
                          for c in doc.get("context_items") or [])
    known_context = {c.id for c in context_items}
    _unique([c.id for c in context_items], src, "context_items", "context item")
    _unique([f["id"] for f in doc["factors"]], src, "factors", "factor")
    factors: list[Factor] = []
    for i, entry in enumerate(doc["factors"]):
        fid, how = entry["id"], entry["determined_by"]
        if fid in known_context:
            raise DefinitionError(f"{fid!r} is both a factor and a context item", file=src,
                                  path=f"factors[{i}].id")
        for j, r in enumerate(how.get("recorded") or []):
            if r != fid and r not in known_context:
                raise DefinitionError(f"recorded answer {r!r} is neither the factor itself nor a "
                                      "context item", file=src,
                                      path=f"factors[{i}].determined_by.recorded[{j}]")
        scores = tuple(ScoreRule(s["column"], s["op"], float(s["threshold"]), s["meaning"],
                                 _words(s["source"]), tuple(s.get("roles") or ()), s.get("stage"),
                                 s.get("id")) for s in how.get("scores") or [])
        derived = tuple(DerivedRule(d["rule"], d["meaning"], d["source"],
                                    float(d["threshold"]) if "threshold" in d else None,
                                    tuple(d.get("values") or ()), tuple(d.get("roles") or ()))
                        for d in how.get("derived") or [])
        factors.append(Factor(fid, entry["label"], str(entry.get("description", "")).strip(),
                              entry["level"], entry["evidence"].strip(), scores,
                              tuple(how.get("recorded") or ()), derived,
                              entry.get("label_not_birth_parent")))
    return tuple(factors), context_items


def _tier_rule(r: Mapping[str, Any], src: str, w: str, factor_ids: set[str], answer_ids: set[str],
               kind_ids: set[str]) -> TierRule:
    anyf = r.get("any_factor")
    if isinstance(anyf, list):
        _unknown(anyf, factor_ids, src, f"{w}.any_factor", "factor")
        anyf = tuple(anyf)
    if r.get("factor") is not None:
        _unknown([r["factor"]], factor_ids, src, f"{w}.factor", "factor")
    _unknown(r.get("recorded_any"), answer_ids, src, f"{w}.recorded_any", "recorded answer")
    _unknown(r.get("urgent_kinds_any"), kind_ids, src, f"{w}.urgent_kinds_any", "flag kind")
    rule = TierRule(r["id"], r["label"], anyf, r.get("factor"), r.get("with_other_factors_at_least"),
                    r.get("cumulative_risk_at_least"), bool(r.get("any_screen_positive", False)),
                    tuple(r.get("recorded_any") or ()), tuple(r.get("urgent_kinds_any") or ()),
                    _words(r["source"]))
    if (rule.any_factor is None and rule.factor is None and not rule.recorded_any and
            not rule.urgent_kinds_any and
            rule.cumulative_risk_at_least is None and not rule.any_screen_positive):
        raise DefinitionError("the rule has no condition", file=src, path=w)
    return rule


def _parse_tiers(doc: Any, src: str, factor_ids: set[str], context_ids: set[str],
                 kind_ids: tuple[str, ...] = ()
                 ) -> tuple[tuple[UrgentRule, ...], tuple[Tier, ...], tuple[Pathway, ...]]:
    content.validate(doc, "tiers", file=src, error=DefinitionError)
    answers = context_ids | factor_ids
    urgent = []
    for i, r in enumerate(doc["urgent"].get("rules") or []):
        if r.get("context") is not None:
            _unknown([r["context"]], answers, src, f"urgent.rules[{i}].context", "context item")
        urgent.append(UrgentRule(r["id"], r["label"], r["source"], r.get("instrument"),
                                 r.get("item"), r.get("context")))
    tiers = tuple(
        Tier(t["id"], t["label"], str(t.get("description", "")),
             tuple(_tier_rule(r, src, f"tiers[{i}].rules[{j}]", factor_ids, answers, set(kind_ids))
                   for j, r in enumerate(t.get("rules") or [])))
        for i, t in enumerate(doc["tiers"]))
    if sorted(t["id"] for t in doc["tiers"]) != sorted(TIER_ORDER):
        raise DefinitionError(f"tiers must be exactly {TIER_ORDER}", file=src, path="tiers")
    for i, p in enumerate(doc["pathways"]):
        for j, cond in enumerate(p["when"]):
            w = f"pathways[{i}].when[{j}]"
            if isinstance(cond.get("factors_any"), list):
                _unknown(cond["factors_any"], factor_ids, src, f"{w}.factors_any", "factor")
            _unknown(cond.get("context_any"), answers, src, f"{w}.context_any", "context item")
    pathways = tuple(Pathway(p["id"], p["label"], p["tier"], str(p.get("description", "")).strip(),
                             tuple(p["when"])) for p in doc["pathways"])
    return tuple(urgent), tiers, pathways


def _load_yaml(path: Path | None, package_file: str) -> tuple[Any, str]:
    if path is None:
        text = resources.files("attunement.risk").joinpath(package_file).read_text("utf-8")
        return content.parse_yaml(text, package_file, error=DefinitionError), package_file
    return content.load_yaml(path, error=DefinitionError), str(path)


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
    content.validate(doc, "treatment_routes", file=src, terms=vocabulary_terms(),
                     error=DefinitionError)
    _unique([r["id"] for r in doc["routes"]], src, "routes", "route")
    routes: list[TreatmentRoute] = []
    for i, r in enumerate(doc["routes"]):
        for j, c in enumerate(r["when"]):
            w = f"routes[{i}].when[{j}]"
            _unknown(c.get("factors_any"), factor_ids, src, f"{w}.factors_any", "factor")
            _unknown(c.get("recorded_any"), context_ids | factor_ids, src, f"{w}.recorded_any",
                     "recorded answer")
            _unknown(c.get("urgent_kinds_any"), set(kind_ids), src, f"{w}.urgent_kinds_any",
                     "flag kind")
        conds = tuple(RouteCondition(c["urgency"], tuple(c.get("factors_any") or ()),
                                     tuple(c.get("recorded_any") or ()),
                                     tuple(c.get("urgent_kinds_any") or ()),
                                     tuple(c.get("roles") or ())) for c in r["when"])
        routes.append(TreatmentRoute(r["id"], r["label"], r["contact"], _words(r.get("description")),
                                     _words(r["source"]), conds))
    return tuple(routes)


def _parse_prompts(doc: Any, src: str, factor_ids: set[str], context_ids: set[str],
                   kind_ids: tuple[str, ...]) -> tuple[PromptRule, ...]:
    content.validate(doc, "prompts", file=src, terms=vocabulary_terms(), error=DefinitionError)
    out: list[PromptRule] = []
    for i, p in enumerate(doc["prompts"]):
        where, rule = f"prompts[{i}]", p["rule"]
        params = {k: v for k, v in p.items() if k not in ("id", "rule", "text", "source")}
        unknown = set(params) - {*PROMPT_RULES[rule], "roles"}
        if unknown:
            raise DefinitionError(f"unknown keys {sorted(unknown)} for rule {rule!r}", file=src,
                                  path=where)
        for key in PROMPT_RULES[rule]:
            if key not in params:
                raise DefinitionError(f"is required for rule {rule!r}", file=src,
                                      path=f"{where}.{key}")
        for key, known in (("answers", context_ids | factor_ids), ("factors", factor_ids),
                           ("kinds", set(kind_ids))):
            _unknown(params.get(key), known, src, f"{where}.{key}", "id")
        if rule == "score_band":
            _unknown([params["below_factor"]], factor_ids, src, f"{where}.below_factor", "factor")
        out.append(PromptRule(p["id"], rule, _words(p["text"]), _words(p["source"]), params))
    return tuple(out)


def load_definitions(factors_path: str | Path | None = None,
                     tiers_path: str | Path | None = None, *,
                     routes_path: str | Path | None = None,
                     prompts_path: str | Path | None = None) -> Definitions:
    """Load and cross-check factor, tier, treatment-route and prompt definitions.

    Parameters
    ----------
    factors_path, tiers_path : str or Path, optional
        A service's ``factors.yaml`` / ``tiers.yaml``; the shipped file for any not given.
    routes_path, prompts_path : str or Path, optional
        A service's ``treatment_routes.yaml`` / ``prompts.yaml``.

    Returns
    -------
    Definitions
        Everything the profile needs.

    Raises
    ------
    DefinitionError
        ``"{file}: {path}: {reason}"``, e.g. ``factors.yaml: factors[0].level: 'household' is
        not one of: caregiver, family``.

    Examples
    --------
    >>> "perinatal_depression" in load_definitions().factor_ids
    True
    """
    if factors_path is None and tiers_path is None and routes_path is None and prompts_path is None:
        return _default_definitions()
    return _build(factors_path, tiers_path, routes_path, prompts_path)


def _build(factors_path: str | Path | None, tiers_path: str | Path | None,
           routes_path: str | Path | None = None, prompts_path: str | Path | None = None
           ) -> Definitions:
    vocabulary = load_vocabulary()
    kind_ids = vocabulary.kind_ids
    fdoc, fsrc = _load_yaml(Path(factors_path) if factors_path else None, "factors.yaml")
    factors, context_items = _parse_factors(fdoc, fsrc)
    fids, cids = {f.id for f in factors}, {c.id for c in context_items}
    parents = tuple(fdoc.get("birth_parent_roles") or birth_parent_roles(vocabulary))
    for rid in (k.recorded for k in vocabulary.recorded_kinds()):
        if rid not in cids | fids:
            raise DefinitionError(f"the vocabulary's recorded answer {rid!r} is not a context item",
                                  file=fsrc, path="context_items")
    tdoc, tsrc = _load_yaml(Path(tiers_path) if tiers_path else None, "tiers.yaml")
    urgent, tiers, pathways = _parse_tiers(tdoc, tsrc, fids, cids, kind_ids)
    rdoc, rsrc = _load_yaml(Path(routes_path) if routes_path else None, "treatment_routes.yaml")
    routes = _parse_routes(rdoc, rsrc, fids, cids, kind_ids)
    pdoc, psrc = _load_yaml(Path(prompts_path) if prompts_path else None, "prompts.yaml")
    prompts = _parse_prompts(pdoc, psrc, fids, cids, kind_ids)
    ignored = tuple((tdoc.get("screens") or {}).get("ignore") or ())
    return Definitions(factors, context_items, urgent, tiers, pathways, (fsrc, tsrc, rsrc, psrc),
                       ignored, {}, routes, prompts, parents)


@cache
def _default_definitions() -> Definitions:
    return _build(None, None)


# --------------------------------------------------------------------------- service configuration
def _config(src: str, path: str, reason: str) -> DefinitionError:
    """A problem in a service's config (``src``) at ``path``."""
    return DefinitionError(reason, file=src, path=path)



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

    Examples
    --------
    >>> ProfileConfig.from_mapping({"thresholds": {"perinatal_depression": {"epds_total": 11}}}).name
    'config'
    >>> ProfileConfig.from_mapping({"urgent": {}})
    Traceback (most recent call last):
    ...
    attunement.content.DefinitionError: config: the urgent overlay cannot be configured (safety items cannot be switched off)
    """

    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tiers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    name: str = "default"
    screens: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    routes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    crisis_contacts: Any = None  # a list of {name, phone, note}, or a path to a JSON/YAML file

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> ProfileConfig:
        """A service's config from a mapping, with unknown keys refused.

        Parameters
        ----------
        data : mapping
            ``thresholds``, ``tiers``, ``name``, ``screens``, ``routes``, ``crisis_contacts``.
        source : str, default "config"
            The name used in messages (and the config's ``name`` when it gives none).

        Returns
        -------
        ProfileConfig
            The config; the values are checked when applied (:func:`apply_config`).

        Raises
        ------
        DefinitionError
            Not a mapping, an unknown key, or an attempt to configure the urgent overlay.
        """
        if not isinstance(data, Mapping):
            raise _config(source, "", "expected a mapping")
        unknown = set(data) - {"thresholds", "tiers", "name", "screens", "routes", "crisis_contacts"}
        if "urgent" in unknown:
            raise _config(source, "", "the urgent overlay cannot be configured "
                                  "(safety items cannot be switched off)")
        if unknown:
            raise _config(source, "", f"unknown keys {sorted(unknown)}")
        routes = data.get("routes") or {}
        if not isinstance(routes, Mapping):
            raise _config(source, "routes", "expected a mapping of route id: "
                                  "{label, contact}")
        return cls(dict(data.get("thresholds") or {}), dict(data.get("tiers") or {}),
                   str(data.get("name", source)), dict(data.get("screens") or {}), dict(routes),
                   data.get("crisis_contacts"))

    @classmethod
    def load(cls, path: str | Path) -> ProfileConfig:
        """Read a service's config file (YAML or JSON); a relative crisis-contacts file is taken
        relative to it.

        Parameters
        ----------
        path : str or Path
            The config file.

        Returns
        -------
        ProfileConfig
            As :meth:`from_mapping` builds it, named after the file.
        """
        doc, src = _load_yaml(Path(path), "")
        cc = doc.get("crisis_contacts") if isinstance(doc, Mapping) else None
        if isinstance(cc, str) and not Path(cc).is_absolute():
            doc = {**doc, "crisis_contacts": str(Path(path).parent / cc)}  # relative to the config
        return cls.from_mapping(doc, src)


def apply_config(defs: Definitions, config: ProfileConfig | Mapping[str, Any] | str | Path | None
                 ) -> Definitions:
    """Return definitions with a service's thresholds applied; unknown names raise DefinitionError.

    Parameters
    ----------
    defs : Definitions
        The definitions.
    config : ProfileConfig, mapping, str or Path, optional
        The service's config (a file is read with :meth:`ProfileConfig.load`); None changes
        nothing.

    Returns
    -------
    Definitions
        New definitions (each changed rule's source says who set it).

    Raises
    ------
    DefinitionError
        An unknown factor, rule or tier rule, or a value that is not a number.

    Examples
    --------
    A column name sets the general cut-offs on it, not the fathers' own rule:

    >>> d = apply_config(load_definitions(),
    ...                  {"thresholds": {"perinatal_depression": {"epds_total": 11}}})
    >>> [(s.id, s.threshold) for s in d.factor("perinatal_depression").scores
    ...  if s.column == "epds_total"]
    [('epds_fathers', 10.0), ('epds_antenatal', 11.0), ('epds_postnatal', 11.0)]
    """
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
            raise _config(src, "thresholds", f"unknown factor {fid!r}")
        f = factors[fid]
        scores = list(f.scores)
        derived = list(f.derived)
        for key, value in dict(changes).items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _config(src, f"thresholds.{fid}.{key}", f"expected a number, got {value!r}")
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
                raise _config(src, f"thresholds.{fid}", f"{key!r} is not a threshold of this "
                                      f"factor (known: {', '.join(names) or 'none'})")
        factors[fid] = replace(f, scores=tuple(scores), derived=tuple(derived))
    rules = {r.id: (t, r) for t in defs.tiers for r in t.rules}
    new_rules: dict[str, TierRule] = {}
    for rid, changes in config.tiers.items():
        if rid not in rules:
            raise _config(src, "tiers", f"unknown tier rule {rid!r} (known: {', '.join(rules)})")
        rule = rules[rid][1]
        updates = {}
        for key, value in dict(changes).items():
            if key not in ("with_other_factors_at_least", "cumulative_risk_at_least") or \
                    getattr(rule, key) is None:
                raise _config(src, f"tiers.{rid}.{key}", "not a number of this rule")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _config(src, f"tiers.{rid}.{key}", "expected a whole number >= 0")
            updates[key] = value
        new_rules[rid] = TierRule(**{**copy.copy(rule.__dict__), **updates})
    tiers = tuple(Tier(t.id, t.label, t.description,
                       tuple(new_rules.get(r.id, r) for r in t.rules)) for t in defs.tiers)
    screens = {k: dict(v) for k, v in defs.screen_thresholds.items()}
    for inst_id, cuts in config.screens.items():
        from attunement.instruments import load_instrument
        from attunement.instruments.engine import resolve_thresholds

        if not isinstance(cuts, Mapping):
            raise _config(src, f"screens.{inst_id}", "expected a mapping of cut-off: value")
        try:
            resolve_thresholds(load_instrument(inst_id), dict(cuts))
        except (ValueError, KeyError) as exc:
            raise _config(src, f"screens.{inst_id}", str(exc)) from None
        screens.setdefault(inst_id, {}).update(cuts)
    routes = list(defs.routes)
    for rid, changes in config.routes.items():
        idx = [i for i, r in enumerate(routes) if r.id == rid]
        if not idx:
            raise _config(src, "routes", f"unknown route {rid!r} "
                                  f"(known: {', '.join(r.id for r in routes)})")
        if not isinstance(changes, Mapping):
            raise _config(src, f"routes.{rid}", "expected a mapping of label/contact")
        for key, value in changes.items():
            if key not in ("label", "contact"):
                raise _config(src, f"routes.{rid}.{key}", "a service sets only the local "
                                      "label and contact (the rule and its source are fixed)")
            if not isinstance(value, str) or not value.strip():
                raise _config(src, f"routes.{rid}.{key}", "expected non-empty text")
        routes[idx[0]] = replace(routes[idx[0]], **{k: v.strip() for k, v in changes.items()})
    contacts = defs.crisis_contacts
    if config.crisis_contacts is not None:
        from attunement.vocabulary import VocabularyError

        try:
            contacts = tuple(load_vocabulary().with_crisis_contacts(config.crisis_contacts).contacts())
        except VocabularyError as exc:
            raise _config(src, "crisis_contacts", str(exc)) from None
    return replace(defs, factors=tuple(factors[f.id] for f in defs.factors), tiers=tiers,
                   sources=(*defs.sources, src), screen_thresholds=screens, routes=tuple(routes),
                   crisis_contacts=contacts)
