"""A service's local choices applied to the definitions: thresholds, tier-rule numbers,
questionnaire cut-offs, treatment routes' local names and crisis contacts.

The urgent overlay is not configurable: safety items cannot be switched off.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from attunement.content import DefinitionError
from attunement.risk.definitions import Definitions, DerivedRule, Tier, TierRule, _load_yaml
from attunement.vocabulary import load_vocabulary


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

    >>> from attunement.risk.definitions import load_definitions
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
