"""Vulnerability factors, tiers and pathways as validated data (``factors.yaml``, ``tiers.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
class Factor(content.Entry):
    """A vulnerability factor: how it is found (scores, recorded answers, derived rules) and its source.

    Parameters
    ----------
    description : str
        What the factor is.
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
class ContextItem(content.Entry):
    """A recorded answer that is not itself a factor (e.g. a safeguarding concern).

    Parameters
    ----------
    level, description : str
        Whom the answer is about (caregiver, family or any) and what it means.

    Examples
    --------
    >>> load_definitions().context_items[0].id
    'safeguarding_concern'
    """
    level: str
    description: str


@dataclass(frozen=True)
class UrgentRule(content.Entry):
    """A rule of the urgent overlay: a questionnaire item or a recorded answer that makes a profile urgent.

    Parameters
    ----------
    source : str
        The published guidance the rule follows.
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
    source: str
    instrument: str | None = None
    item: int | None = None
    context: str | None = None


@dataclass(frozen=True)
class TierRule(content.Entry):
    """One way into a care tier (any of a tier's rules places the family there).

    Parameters
    ----------
    source : str
        Where the rule comes from.
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
    any_factor: tuple[str, ...] | str | None = None
    factor: str | None = None
    with_other_factors_at_least: int | None = None
    cumulative_risk_at_least: int | None = None
    any_screen_positive: bool = False
    recorded_any: tuple[str, ...] = ()
    urgent_kinds_any: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Tier(content.Entry):
    """A care tier (universal, targeted, specialist) and the rules that place a family in it.

    A family is in the highest tier any of whose rules holds, and in ``universal`` when none does.

    Parameters
    ----------
    description : str
        What the tier means for the family's care.
    rules : tuple of TierRule
        Any of them places the family in the tier.

    Examples
    --------
    >>> [t.id for t in load_definitions().tiers]
    ['specialist', 'targeted', 'universal']
    """
    description: str
    rules: tuple[TierRule, ...]


@dataclass(frozen=True)
class Pathway(content.Entry):
    """A care pathway within a tier and the conditions that suggest it.

    Parameters
    ----------
    tier, description : str
        The tier the pathway belongs to, and what it means.
    when : tuple of mapping
        The conditions (any of them).

    Examples
    --------
    >>> p = load_definitions().pathways[0]
    >>> p.id, p.tier
    ('antenatal_risk', 'targeted')
    """
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
class TreatmentRoute(content.Entry):
    """A referral route for a caregiver's own health, configured with a service's local name and
    contact (``treatment_routes.yaml``; a service's ``routes:`` config overrides label/contact).

    Parameters
    ----------
    contact, description, source : str
        The service's contact, what the route is and its published source (``label`` is the
        service's local name).
    when : tuple of RouteCondition
        When it applies.

    Examples
    --------
    >>> load_definitions().route("crisis_team").when[0].urgent_kinds_any
    ('suspected_psychosis', 'harm_intent')
    """

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

        Examples
        --------
        >>> load_definitions().factor("nope")
        Traceback (most recent call last):
        ...
        KeyError: 'nope'
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
