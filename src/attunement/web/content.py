"""Read-only content the pages show: questionnaire forms, item wording, chart specs, the
circumstances a practitioner can tick, the caregiver pages' words, and the vocabulary's urgency
rules (``attunement.vocabulary``, the only place they are written).

Profiles and matching are computed by :mod:`attunement.usecases.profiles`, not here.

Questionnaire pages are rendered from the instrument definition (``attunement.instruments``):
item order as printed, the score of each option, safety items. Item wording comes from the
caregiver's language: validated wording shipped where its licence allows (PHQ-9, GAD-7,
Whooley), the service's licensed item text pack, or a SAMPLE pack marked as such; otherwise the
project's own short labels are shown and marked as such (licensed wording is never shipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from attunement import policy
from attunement.vocabulary import load_vocabulary
from attunement.web.charts import Cutoff


@dataclass(frozen=True)
class Choice:
    """One answer option of a questionnaire item on a form.

    A radio button's value and label; the value is what the form posts back.

    Attributes
    ----------
    value : str
        The item score sent when it is chosen.
    text : str
        The wording shown.
    """
    value: str
    text: str


@dataclass(frozen=True)
class FormItem:
    """One questionnaire item as a form shows it, in printed order.

    Built by :func:`instrument_form`; the wording of licensed items comes from a text pack.

    Attributes
    ----------
    number : int
        The item's number in the definition.
    position : int
        Its place on the form (1-based).
    label : str
        The item's wording: the licensed text pack's, else the project's short label.
    from_pack : bool
        Whether ``label`` came from a text pack.
    choices : tuple of Choice
        The answer options, in order.
    values : list of number
        The item scores the options stand for.
    safety : bool
        Whether it is a safety item (self-harm and the like).
    optional : bool
        Whether it may be left unanswered.
    options_from_pack : bool
        Whether the options' wording came from a text pack.
    """
    number: int
    position: int
    label: str
    from_pack: bool
    choices: tuple[Choice, ...]
    values: list[int | float]
    safety: bool
    optional: bool
    options_from_pack: bool = False


@dataclass(frozen=True)
class InstrumentForm:
    """An instrument's form: its definition (``instrument``: id, names, version, recall period,
    citation), the items to show and where their wording came from."""

    instrument: Any
    items: tuple[FormItem, ...]
    labels_from_pack: bool
    language: str = "en"
    direction: str = "ltr"
    sample: bool = False
    instructions: str | None = None
    text_source: str | None = None
    asked_language: str = "en"


@dataclass(frozen=True)
class ChartSpec:
    """What the family page charts for an instrument: its main scale, range and cut-offs.

    Given by :func:`chart_spec`; instruments without a summed scale have none.

    Attributes
    ----------
    column : str
        The score column charted (``"epds_total"``).
    label : str
        The scale's name on the chart.
    low, high : float
        The scale's range.
    cutoffs : list of Cutoff
        The instrument's cut-offs on that scale.
    """
    column: str
    label: str
    low: float
    high: float
    cutoffs: list[Cutoff]


def _definitions() -> Any:
    from attunement.instruments import definition

    return definition


def has_instrument(instrument_id: str) -> bool:
    """Whether a questionnaire with this id is installed.

    Parameters
    ----------
    instrument_id : str
        The instrument id (``"epds"``).

    Returns
    -------
    bool
        True when the instrument library lists it.
    """
    return any(i.id == instrument_id for i in _definitions().list_instruments())


@cache
def instrument_choices() -> list[tuple[str, str]]:
    """``(id, name)`` of every questionnaire a caregiver or practitioner can fill in."""
    first = {name: n for n, name in enumerate(COMMON_FIRST)}
    found = [i for i in _definitions().list_instruments() if i.kind == "questionnaire"]
    found.sort(key=lambda i: (first.get(i.id, len(first)), i.id))
    return [(i.id, f"{i.short_name} — {i.name}") for i in found]


# the perinatal screens used most often come first in the pickers
COMMON_FIRST = ("epds", "phq9", "gad7", "whooley", "pbq", "osss3")


def instrument_name(instrument_id: str) -> str:
    """A questionnaire's name as pages show it: short name and full name.

    Parameters
    ----------
    instrument_id : str
        An instrument id such as ``"epds"``.

    Returns
    -------
    str
        ``"EPDS (Edinburgh Postnatal Depression Scale)"``; the id itself when unknown.
    """
    try:
        inst = _definitions().load_instrument(instrument_id)
    except Exception:
        return instrument_id
    return f"{inst.short_name} ({inst.name})"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def service_text_packs(paths: Any) -> tuple[Any, ...]:
    """The service's licensed packs (``ATTUNEMENT_ITEM_TEXT_PACK``): one file, or several
    separated by ``os.pathsep`` (one per language), each read by the one text-pack loader
    (:func:`attunement.instruments.textpack.load_text_pack`; a bad pack is a
    ``DefinitionError`` naming the file, instrument, item and field).

    Parameters
    ----------
    paths : str, Path, list or None
        The pack file(s).

    Returns
    -------
    tuple of TextPack
        The packs, in the order given.
    """
    import os

    from attunement.instruments.textpack import load_text_pack

    if not paths:
        return ()
    if isinstance(paths, str):
        paths = [p for p in paths.split(os.pathsep) if p.strip()]
    elif not isinstance(paths, list | tuple):
        paths = [paths]
    return tuple(load_text_pack(p) for p in paths)


def _wording(inst_id: str, service_packs: Any, language: str, samples: bool) -> Any:
    """The wording to show, best first: validated (the service's licensed pack in that
    language, then the bundled validated packs), then a SAMPLE pack; ``None`` leaves the
    project's short labels."""
    from attunement.instruments.textpack import bundled_text_packs

    packs = [p for p in (*service_packs, *bundled_text_packs()) if p.language == language
             and (samples or not p.sample)]
    for pack in packs:
        if not pack.sample and inst_id in pack.instruments:
            return pack.instruments[inst_id], pack.direction
    for pack in packs:
        if inst_id in pack.instruments:
            return pack.instruments[inst_id], pack.direction
    return None


def instrument_form(instrument_id: str, service_packs: Any = (),
                    language: str = "en", *, samples: bool = False) -> InstrumentForm:
    """The form of one instrument, items in printed order, in the language asked for if possible.

    The wording comes from a text pack in ``language`` when one has it (else English); the
    answers' wording from the pack, else the definition's option labels.

    Parameters
    ----------
    instrument_id : str
        The instrument id.
    service_packs : sequence
        The service's licensed text packs (:func:`service_text_packs`).
    language : str
        The language the caregiver reads.
    samples : bool
        Admit the project's SAMPLE packs (the demo only).

    Returns
    -------
    InstrumentForm
        The instrument, its :class:`FormItem` list, and where the wording came from.
    """
    inst = _definitions().load_instrument(instrument_id)
    found = _wording(inst.id, service_packs, language, samples)
    if found is None and language != "en":
        found = _wording(inst.id, service_packs, "en", samples)
    text, direction = found if found else (None, "ltr")
    pack = text.items if text else {}
    options = text.options if text else {}
    safety = inst.safety_items
    items = []
    for position, number in enumerate(inst.form_order(), start=1):
        item = inst.item(number)
        values = [_number(s) for s in item.scores]
        words = options.get(number)
        choices = []
        for k, value in enumerate(values):
            if words:
                label = words[k]
            elif k < len(item.option_labels) and item.option_labels[k]:
                label = item.option_labels[k][:1].upper() + item.option_labels[k][1:]
            else:
                label = f"Option {k + 1}"
            choices.append(Choice(str(value), label))
        items.append(FormItem(
            number=number, position=position,
            label=pack.get(number, item.label), from_pack=number in pack,
            choices=tuple(choices), values=values, safety=number in safety,
            optional=item.optional, options_from_pack=bool(words),
        ))
    return InstrumentForm(
        instrument=inst, items=tuple(items), labels_from_pack=bool(pack),
        language=text.language if text else "en", direction=direction,
        sample=bool(text and text.sample), instructions=text.instructions if text else None,
        text_source=text.source if text else None, asked_language=language,
    )


def questions(instrument_id: str) -> list[dict[str, Any]]:
    """The questions of an instrument for the JSON API (project labels; no licensed wording).

    Parameters
    ----------
    instrument_id : str
        An installed instrument (``"epds"``); an unknown one raises the library's error.

    Returns
    -------
    list of dict
        Per item: ``number``, ``label``, ``scores``, ``options`` and ``safety``.
    """
    form = instrument_form(instrument_id)
    return [{"number": i.number, "label": i.label, "scores": i.values,
             "options": [c.text for c in i.choices], "safety": i.safety} for i in form.items]


@cache
def chart_spec(instrument_id: str) -> ChartSpec | None:
    """The instrument's first scale (its total) with the cut-offs drawn on it."""
    try:
        inst = _definitions().load_instrument(instrument_id)
    except Exception:
        return None
    if not inst.scales:
        return None
    scale = inst.scales[0]
    cutoffs = [Cutoff(c.value, c.label, c.op) for c in inst.cutoffs if c.scale == scale.id]
    return ChartSpec(
        column=f"{inst.id}_{scale.id}", label=f"{inst.short_name} {scale.label}",
        low=float(scale.range[0]), high=float(scale.range[1]), cutoffs=cutoffs,
    )


def scale_value(scores: dict[str, Any], column: str) -> Any:
    """One score of an assessment, for a template.

    Parameters
    ----------
    scores : dict
        An assessment's scores.
    column : str
        The score column (``"epds_total"``).

    Returns
    -------
    object
        The value, or None when the assessment has no such score.
    """
    return scores.get(column)


def _flags(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in assessment.get("flags") or [] if isinstance(f, dict)]


def is_urgent(assessment: dict[str, Any]) -> bool:
    """Whether a stored assessment raised an urgent flag, so the practitioner is told at once.

    The urgent flags are listed in ``attunement.vocabulary``, the same list the store opens
    alerts from.

    Parameters
    ----------
    assessment : dict
        A stored assessment with its ``flags``.

    Returns
    -------
    bool
        True when any flag is urgent.
    """
    return load_vocabulary().is_urgent(_flags(assessment))


def shows_crisis_contacts(assessment: dict[str, Any]) -> bool:
    """Whether the caregiver who gave these answers sees the support box with crisis contacts.

    The rule is ``show_crisis_contacts`` in ``attunement.vocabulary``: for example a safety
    item answered above zero or left unanswered.

    Parameters
    ----------
    assessment : dict
        As for :func:`is_urgent`.

    Returns
    -------
    bool
        True when the support box lists the crisis contacts for this caregiver.
    """
    return load_vocabulary().shows_crisis_contacts(_flags(assessment))


def safety_item_unanswered(assessment: dict[str, Any]) -> bool:
    """Whether the caregiver chose not to answer a safety item (the support box says so).

    Parameters
    ----------
    assessment : dict
        Its ``flags`` are searched for one of kind ``safety_unanswered``.

    Returns
    -------
    bool
        Whether there is one.
    """
    return any(f.get("kind") == "safety_unanswered" for f in _flags(assessment))


def urgency_level(urgency: str) -> dict[str, str] | None:
    """The label and first action of an urgency level, for the family page's banner.

    Parameters
    ----------
    urgency : str
        The profile's urgency id (``"same_day"``, ``"none"``).

    Returns
    -------
    dict or None
        ``id``, ``label`` and ``action``; None for ``none``.
    """
    if urgency in (None, "none"):
        return None
    level = load_vocabulary().level(urgency)
    return {"id": level.id, "label": level.label, "action": level.action}


def vocabulary_choices(section: str) -> list[tuple[str, str]]:
    """One list of the vocabulary as a form offers it: ``(id, label)``, in the vocabulary's order.

    Parameters
    ----------
    section : str
        ``"caregiver_roles"``, ``"placements"``, ``"user_roles"`` or ``"default_schedule"``.

    Returns
    -------
    list of (str, str)
        Each term's id and label.

    Examples
    --------
    >>> vocabulary_choices("placements")[1]
    ('foster', 'Foster care')
    """
    return [(t.id, t.label) for t in getattr(load_vocabulary(), section)]


def role_names() -> dict[str, str]:
    """The label of each user role (the vocabulary's), and of the local operator.

    Returns
    -------
    dict of str to str
        ``{role id: label}``.

    Examples
    --------
    >>> role_names()["site_lead"]
    'Site lead'
    """
    return {**dict(vocabulary_choices("user_roles")), policy.SYSTEM: "System"}


def time_points(family: dict[str, Any]) -> list[str]:
    """Time points offered on the family page: the study's schedule, then ones already used.

    Parameters
    ----------
    family : dict
        The family as ``get_family`` returns it.

    Returns
    -------
    list of str
        Time point names without repeats; the default schedule's when the family has none.
    """
    names: list[str] = []
    for tp in family.get("time_points") or family.get("schedule") or []:
        name = tp.get("name") if isinstance(tp, dict) else str(tp)
        if name and name not in names:
            names.append(name)
    for a in family.get("assessments") or []:
        name = str(a.get("time_point", ""))
        if name and name not in names:
            names.append(name)
    return names or [tp for tp, _ in vocabulary_choices("default_schedule")]


@cache
def context_choices() -> dict[str, list[tuple[str, str]]]:
    """Recorded circumstances a practitioner can tick, by level (``family`` / ``caregiver``),
    from the risk definitions (``attunement.risk``): each becomes ``context: {id: true}``."""
    from attunement.risk import load_definitions

    defs = load_definitions()
    labels = {c.id: (c.label, c.level) for c in defs.context_items}
    out: dict[str, list[tuple[str, str]]] = {"family": [], "caregiver": []}
    seen: set[str] = set()
    for factor in defs.factors:
        for rid in factor.recorded:
            if rid in seen:
                continue
            seen.add(rid)
            label, level = labels.get(rid, (factor.label if rid == factor.id
                                            else rid.replace("_", " ").capitalize(), factor.level))
            out.setdefault(level, []).append((rid, label))
    for cid, (label, level) in labels.items():
        if cid not in seen:
            seen.add(cid)
            out.setdefault(level, []).append((cid, label))
    return out


@cache
def _caregiver_words() -> dict[str, dict[str, Any]]:
    from importlib import resources

    import yaml

    text = resources.files("attunement.web").joinpath("caregiver_words.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def caregiver_words(language: str) -> dict[str, Any]:
    """What the caregiver pages say in a language, English for any missing phrase.

    Parameters
    ----------
    language : str
        A language tag; ``"pt-BR"`` falls back to ``"pt"``, then to English.

    Returns
    -------
    dict
        The phrases, with ``lang`` and ``dir`` for the page; ``sample`` marks a translation not
        yet checked.
    """
    from attunement.instruments.textpack import language_direction

    words = _caregiver_words()
    primary = language.split("-")[0]
    chosen = language if language in words else primary if primary in words else "en"
    merged = {**words["en"], **words[chosen]}
    merged["lang"] = chosen
    merged["dir"] = language_direction(chosen)
    return merged


def crisis_contacts_in(contacts: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """The crisis contacts as a caregiver reading ``language`` sees them: each contact's name
    and note in that language where the data has a translation (with ``checked``: a qualified
    translator has checked it), else in English; never an empty list when contacts exist.

    Parameters
    ----------
    contacts : list of dict
        The service's contacts (``Settings.crisis_contacts``; ``translations`` optional).
    language : str
        The caregiver's page language.

    Returns
    -------
    list of dict
        ``{name, phone, note, lang, dir, checked}`` per contact, in the service's order.

    Examples
    --------
    >>> [c["name"] for c in crisis_contacts_in([{"name": "Samaritans", "phone": "116 123",
    ...     "translations": {"es": {"name": "Samaritanos", "checked": False}}}], "es")]
    ['Samaritanos']
    """
    from attunement.instruments.textpack import language_direction

    out = []
    for c in contacts:
        tr = (c.get("translations") or {}).get(language)
        if tr and tr.get("name"):
            out.append({"name": tr["name"], "phone": c["phone"],
                        "note": tr.get("note") or "", "lang": language,
                        "dir": language_direction(language), "checked": bool(tr["checked"])})
        else:
            out.append({"name": c["name"], "phone": c["phone"], "note": c.get("note") or "",
                        "lang": "en", "dir": "ltr", "checked": True})
    return out


def caregiver_languages() -> list[str]:
    """Languages the caregiver pages can be shown in.

    Returns
    -------
    list of str
        Language tags, sorted (``"en"``, ``"es"``, ...).
    """
    return sorted(_caregiver_words())


def _fill(template: str, **values: Any) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def plain_results(results: list[dict[str, Any]], words: dict[str, Any]) -> list[dict[str, Any]]:
    """Released results explained in plain words in the caregiver's language.

    Each result gives the total out of its maximum, the published band it falls in (with its
    range, never a bare cut-off), and always the support text. Results without a total keep
    only the support text.

    Parameters
    ----------
    results : list of dict
        The released assessments (``instrument``, ``time_point``, ``scores``).
    words : dict
        The caregiver pages' phrases (:func:`caregiver_words`).

    Returns
    -------
    list of dict
        Per result: ``heading``, ``lines`` and ``support``.
    """
    out = []
    bands_words = words.get("bands") or {}
    for r in results:
        try:
            inst = _definitions().load_instrument(r["instrument"])
        except Exception:
            continue
        entry: dict[str, Any] = {
            "heading": _fill(words["result_heading"], name=inst.short_name,
                             time_point=r.get("time_point") or ""),
            "lines": [], "support": words["result_support"],
        }
        scale = inst.scales[0] if inst.scales else None
        score = (r.get("scores") or {}).get(f"{inst.id}_{scale.id}") if scale else None
        if scale is not None and isinstance(score, int | float) and not isinstance(score, bool) \
                and scale.method == "sum":
            entry["lines"].append(_fill(words["result_score"], score=_number(score),
                                        max=_number(scale.range[1])))
            band = next((b for b in inst.bands if b.scale == scale.id), None)
            level = next((lv for lv in band.levels if lv.min <= score <= lv.max), None) \
                if band else None
            if level is not None:
                entry["lines"].append(_fill(
                    words["result_band"], low=_number(level.min), high=_number(level.max),
                    band=bands_words.get(level.label, level.label)))
        out.append(entry)
    return out


def language_cutoff_notes(assessment: dict[str, Any]) -> list[str]:
    """For the clinician: which cut-offs of the caregiver's language scored these answers, each
    with the definition's default, its source and the population studied
    (:mod:`attunement.instruments.language_cutoffs`). Empty when the default cut-offs were used.

    Parameters
    ----------
    assessment : dict
        A stored assessment (``instrument`` and ``scores``).

    Returns
    -------
    list of str
        One sentence per cut-off replaced.
    """
    from attunement.instruments.language_cutoffs import language_cutoffs

    inst_id = str(assessment.get("instrument") or "")
    scores = assessment.get("scores") or {}
    language = scores.get(f"{inst_id}_cutoffs_language")
    if not language:
        return []
    inst = _definitions().load_instrument(inst_id)
    notes = []
    for c in language_cutoffs(inst_id, language, scores.get(f"{inst_id}_cutoffs_period")):
        default = next(d for d in inst.cutoffs if d.id == c.cutoff)
        notes.append(f"{default.label}: {c.rule_text()} for answers in {language} "
                     f"(published {c.published or c.rule_text()}; default {default.rule_text()})"
                     f" — {c.source}. Population: {c.population}.")
    return notes


def instrument_short_name(instrument_id: str) -> str:
    """A questionnaire's short name: ``PHQ-9`` for ``phq9``.

    Parameters
    ----------
    instrument_id : str
        An instrument id, possibly not installed.

    Returns
    -------
    str
        The short name, or ``instrument_id`` unchanged when no such instrument is installed.
    """
    try:
        return str(_definitions().load_instrument(instrument_id).short_name)
    except Exception:
        return instrument_id
