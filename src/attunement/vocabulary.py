"""The one vocabulary (``vocabulary.yaml``): flag kinds, urgency levels, crisis contacts,
caregiver and user roles, placements and the default schedule.

Pure domain code: every layer (instruments, risk, store, web) asks this module whether a flag is
urgent, an emergency, opens an alert or shows the crisis contacts, and which roles, placements
and time points exist, instead of keeping a list. A service replaces the file with its own
(``ATTUNEMENT_VOCABULARY=/path/vocabulary.yaml``, or ``load_vocabulary(path)``); a section its
file leaves out is the shipped one. ``docs/content.md`` describes the format.

>>> v = load_vocabulary()
>>> v.kind_of({"id": "pbq_harm_review", "kind": "review"}).id
'harm_to_baby'
>>> v.urgency_of(["safety", "cutoff"])
'same_day'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from attunement import content
from attunement.content import ContentError

URGENCY_LEVELS = ("none", "same_day", "emergency")
_KIND_FLAGS = ("urgent", "emergency", "alert", "show_crisis_contacts")
ENV_VAR = "ATTUNEMENT_VOCABULARY"
_SECTIONS = ("caregiver_roles", "user_roles", "placements", "default_schedule")


class VocabularyError(ContentError):
    """The vocabulary or a crisis-contacts file is invalid: ``"{file}: {path}: {reason}"``.

    Examples
    --------
    >>> str(VocabularyError("vocabulary.yaml", "kinds[0].id", "must not be empty"))
    'vocabulary.yaml: kinds[0].id: must not be empty'
    """


@dataclass(frozen=True)
class Term(content.Entry):
    """One entry of a vocabulary list: its id, label and (for some lists) what it is for.

    Parameters
    ----------
    description : str
        A longer description (may be empty).
    birth_parent : bool
        Set on caregiver roles (the birth mother or birthing parent).
    purpose : str
        Set on user roles.

    Examples
    --------
    >>> load_vocabulary().caregiver_roles[0]
    Term(id='birth_mother', label='Birth mother', description='', birth_parent=True, purpose='')
    """

    description: str = ""
    birth_parent: bool = False
    purpose: str = ""


@dataclass(frozen=True)
class FlagKind(content.Entry):
    """One kind of flag: what it means and what it sets off.

    A service's vocabulary may add kinds; an emergency kind must also be urgent, and an urgent
    kind must open an alert.

    Parameters
    ----------
    description : str
        What a flag of this kind means.
    urgent, emergency : bool
        Whether it raises same-day or emergency urgency.
    alert : bool
        Whether it opens an alert for a practitioner.
    show_crisis_contacts : bool
        Whether the caregiver is shown the crisis contacts.
    flags : tuple of str
        The flag ids of this kind.
    recorded : str, optional
        The recorded answer that raises it.
    source : str
        The published source.

    Examples
    --------
    >>> k = load_vocabulary().kind("safety")
    >>> k.urgent, k.alert, k.urgency
    (True, True, 'same_day')
    """

    description: str
    urgent: bool
    emergency: bool
    alert: bool
    show_crisis_contacts: bool
    flags: tuple[str, ...] = ()
    recorded: str | None = None
    source: str = ""

    @property
    def urgency(self) -> str:
        """The urgency level this kind raises by itself."""
        return "emergency" if self.emergency else "same_day" if self.urgent else "none"


@dataclass(frozen=True)
class UrgencyLevel(content.Entry):
    """One urgency level (``none``, ``same_day``, ``emergency``): its label and the action it asks for.

    Parameters
    ----------
    action, source : str
        What staff should do, and the published source.

    Examples
    --------
    >>> load_vocabulary().level("none").label
    'No urgent concern'
    """
    action: str
    source: str = ""


@dataclass(frozen=True)
class CrisisContact(content.Plain):
    """One crisis contact a service shows: name, phone and a note.

    Parameters
    ----------
    name, phone, note : str
        Who, the number, and when to call.
    translations : dict
        Language tag -> ``{name, note, checked}`` (``checked``: a qualified translator has
        checked the text); may be empty.

    Examples
    --------
    >>> load_vocabulary().crisis_contacts[0].to_dict()["phone"]
    '999'
    """
    name: str
    phone: str
    note: str = ""
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        # translations appear only where a service gave some, as before they existed
        """The contact as plain data, for JSON and templates.

        Returns
        -------
        dict
            ``name``, ``phone``, ``note`` and, only where a service gave some, ``translations``.
        """
        return content.plain(self, omit=() if self.translations else ("translations",))


@dataclass(frozen=True)
class Vocabulary:
    """Flag kinds, urgency levels, the crisis contacts a service shows, and the lists of
    caregiver roles, user roles, placements and default time points.

    Parameters
    ----------
    kinds : tuple of FlagKind
        The flag kinds.
    levels : tuple of UrgencyLevel
        The urgency levels.
    crisis_contacts : tuple of CrisisContact
        The contacts, and ``crisis_contacts_source`` the file they came from.
    source : str
        The vocabulary file.
    caregiver_roles, user_roles, placements, default_schedule : tuple of Term
        The lists.

    Examples
    --------
    >>> v = load_vocabulary()
    >>> v.kind_ids[:3], v.urgency_of(["safety"])
    (('safety', 'safety_unanswered', 'harm_to_baby'), 'same_day')
    >>> v.kind("nope")
    Traceback (most recent call last):
    ...
    KeyError: "unknown flag kind 'nope' (known: safety, safety_unanswered, harm_to_baby, review, cutoff, safeguarding_concern, suspected_psychosis, harm_intent)"
    """

    kinds: tuple[FlagKind, ...]
    levels: tuple[UrgencyLevel, ...]
    crisis_contacts: tuple[CrisisContact, ...]
    crisis_contacts_source: str
    source: str = "vocabulary.yaml"
    caregiver_roles: tuple[Term, ...] = ()
    user_roles: tuple[Term, ...] = ()
    placements: tuple[Term, ...] = ()
    default_schedule: tuple[Term, ...] = ()
    _by_flag: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def kind(self, kind_id: str) -> FlagKind:
        """The flag kind with this id.

        Parameters
        ----------
        kind_id : str
            A kind id (``safety``, ``harm_to_baby`` …).

        Returns
        -------
        FlagKind
            The kind.

        Raises
        ------
        KeyError
            No such kind; the message lists the known ones.
        """
        return content.by_id(self.kinds, kind_id,
                             f"unknown flag kind {kind_id!r} (known: {', '.join(self.kind_ids)})")

    @property
    def kind_ids(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.kinds)

    def level(self, level_id: str) -> UrgencyLevel:
        """An urgency level by id, with the label and action staff see.

        Parameters
        ----------
        level_id : {"none", "same_day", "emergency"}
            The level.

        Returns
        -------
        UrgencyLevel
            Its label, action and source.
        """
        return content.by_id(self.levels, level_id, f"unknown urgency level {level_id!r}")

    def kind_of(self, flag: Mapping[str, Any] | Any) -> FlagKind | None:
        """The kind of an instrument flag (a dict or an object with ``id`` and ``kind``).

        A flag named in a kind's ``flags`` takes that kind (e.g. PBQ item 18/24 -> harm_to_baby);
        otherwise its own ``kind``.

        Parameters
        ----------
        flag : mapping or object
            The flag, with ``id`` and ``kind``.

        Returns
        -------
        FlagKind or None
            ``None`` for a kind this vocabulary does not know.
        """
        get = flag.get if isinstance(flag, Mapping) else lambda k: getattr(flag, k, None)
        fid, own = get("id"), get("kind")
        kid = self._by_flag.get(str(fid)) if own != "safety_unanswered" else None
        kid = kid or own
        try:
            return self.kind(str(kid))
        except KeyError:
            return None

    def recorded_kinds(self) -> tuple[FlagKind, ...]:
        """Kinds raised by a recorded answer (context key true).

        Returns
        -------
        tuple of FlagKind
            The kinds that have ``recorded`` set, in the file's order.
        """
        return tuple(k for k in self.kinds if k.recorded)

    def is_urgent(self, flags: Iterable[Mapping[str, Any] | Any]) -> bool:
        """True when any flag is of an urgent kind.

        Parameters
        ----------
        flags : iterable of mapping or object
            Instrument flags (see :meth:`kind_of`).

        Returns
        -------
        bool
            Whether any raises same-day or emergency urgency.
        """
        return any((k := self.kind_of(f)) is not None and k.urgent for f in flags)

    def opens_alert(self, flag: Mapping[str, Any] | Any) -> bool:
        """Whether this one flag opens an alert for a practitioner.

        Parameters
        ----------
        flag : mapping or object
            An instrument flag.

        Returns
        -------
        bool
            False too for a flag of an unknown kind.
        """
        k = self.kind_of(flag)
        return k is not None and k.alert

    def shows_crisis_contacts(self, flags: Iterable[Mapping[str, Any] | Any]) -> bool:
        """Whether the caregiver should be shown the crisis contacts after these answers.

        Parameters
        ----------
        flags : iterable of mapping or object
            The flags of an answered questionnaire.

        Returns
        -------
        bool
            True when any is of a kind with ``show_crisis_contacts``.
        """
        return any((k := self.kind_of(f)) is not None and k.show_crisis_contacts for f in flags)

    def urgency_of(self, kind_ids: Iterable[str]) -> str:
        """The highest urgency among these kinds: ``none``, ``same_day`` or ``emergency``.

        Parameters
        ----------
        kind_ids : iterable of str
            Flag kind ids (each must exist).

        Returns
        -------
        str
            An id of :data:`URGENCY_LEVELS`; ``none`` for no kinds.
        """
        worst = 0
        for kid in kind_ids:
            worst = max(worst, URGENCY_LEVELS.index(self.kind(kid).urgency))
        return URGENCY_LEVELS[worst]

    def contacts(self) -> list[dict[str, Any]]:
        """The crisis contacts as plain dicts (see :meth:`CrisisContact.to_dict`).

        Returns
        -------
        list of dict
            In the order the service lists them.
        """
        return [c.to_dict() for c in self.crisis_contacts]

    def with_crisis_contacts(self, contacts: str | Path | Sequence[Mapping[str, Any]]
                             ) -> Vocabulary:
        """This vocabulary with a service's crisis contacts (a list, or a JSON/YAML file of one).

        Parameters
        ----------
        contacts : str, Path or sequence of mapping
            The contacts (``name``, ``phone``, optional ``note`` and ``translations``), or a file
            holding them, optionally as ``{source, contacts}``.

        Returns
        -------
        Vocabulary
            A copy whose ``crisis_contacts`` (and their source) are the service's.

        Raises
        ------
        VocabularyError
            A contact without a name or phone, or an unreadable file (the place is named).
        """
        if isinstance(contacts, str | Path):
            where = str(contacts)
            data = content.load_yaml(Path(contacts), error=VocabularyError)
            source = f"service crisis contacts ({where})"
        else:
            where, data, source = "crisis contacts", contacts, "service crisis contacts"
        prefix: list[Any] = []
        if isinstance(data, Mapping) and "contacts" in data:
            source = str(data.get("source") or source)
            data, prefix = data["contacts"], ["contacts"]
        return replace(self, crisis_contacts=_parse_contacts(data, where, prefix),
                       crisis_contacts_source=source)

    def terms(self) -> dict[str, tuple[str, ...]]:
        """The id lists other content schemas check against (``caregiver_roles`` ...).

        Returns
        -------
        dict
            ``caregiver_roles``, ``birth_parent_roles``, ``placements`` and ``user_roles`` -> ids.
        """
        return {
            "caregiver_roles": tuple(t.id for t in self.caregiver_roles),
            "birth_parent_roles": tuple(t.id for t in self.caregiver_roles if t.birth_parent),
            "placements": tuple(t.id for t in self.placements),
            "user_roles": tuple(t.id for t in self.user_roles),
        }


def _words(value: Any) -> str:
    return " ".join(str(value or "").split())


def _parse_contacts(data: Any, where: str, prefix: Sequence[Any] = ()) -> tuple[CrisisContact, ...]:
    try:
        content.validate(data, "crisis_contacts", file=where, error=VocabularyError)
    except VocabularyError as err:
        raise VocabularyError(where, content.dotted([*prefix, *err.parts]), err.reason) from None
    return tuple(CrisisContact(str(c["name"]).strip(), str(c["phone"]).strip(),
                               str(c.get("note") or "").strip(),
                               {lang: {"name": _words(t.get("name")), "note": _words(t.get("note")),
                                       "checked": t["checked"]}
                                for lang, t in (c.get("translations") or {}).items()})
                 for c in data)


def _check_kinds(raw: Sequence[Mapping[str, Any]], src: str) -> dict[str, str]:
    """What the schema cannot say about flag kinds; returns instrument flag id -> kind id."""
    by_flag: dict[str, str] = {}
    seen: set[str] = set()
    for i, k in enumerate(raw):
        w = f"flag_kinds[{i}]"
        if k["id"] in seen:
            raise VocabularyError(src, f"{w}.id", f"duplicate flag kind {k['id']!r}")
        seen.add(k["id"])
        if k["emergency"] and not k["urgent"]:
            raise VocabularyError(src, w, f"flag kind {k['id']!r}: an emergency kind must also "
                                  "be urgent")
        if k["urgent"] and not k["alert"]:
            raise VocabularyError(src, w, f"flag kind {k['id']!r}: an urgent kind must open an alert")
        for f in k.get("flags") or []:
            if f in by_flag:
                raise VocabularyError(src, f"{w}.flags", f"flag {f!r} is already of kind "
                                      f"{by_flag[f]!r}")
            by_flag[f] = k["id"]
    return by_flag


def _check_lists(doc: Mapping[str, Any], src: str) -> None:
    levels = tuple(lv["id"] for lv in doc["urgency"])
    if levels != URGENCY_LEVELS:
        raise VocabularyError(src, "urgency", f"urgency must list exactly {URGENCY_LEVELS} in "
                              f"this order, got {levels}")
    for i, lv in enumerate(doc["urgency"][1:], start=1):
        if not _words(lv.get("action")) or not _words(lv.get("source")):
            raise VocabularyError(src, f"urgency[{i}]", f"urgency {lv['id']!r}: fields 'action' "
                                  "and 'source' are required")
    for section in _SECTIONS:
        ids = [t["id"] for t in doc.get(section) or []]
        for i, tid in enumerate(ids):
            if tid in ids[:i]:
                raise VocabularyError(src, f"{section}[{i}].id", f"duplicate id {tid!r}")


def _terms(doc: Mapping[str, Any], section: str) -> tuple[Term, ...]:
    return tuple(Term(t["id"], t["label"].strip(), _words(t.get("description")),
                      bool(t.get("birth_parent", False)), _words(t.get("purpose")))
                 for t in doc.get(section) or [])


def parse_vocabulary(doc: Any, src: str) -> Vocabulary:
    """Validate a vocabulary document; errors name the file, path and reason.

    Parameters
    ----------
    doc : Any
        The parsed ``vocabulary.yaml`` layout.
    src : str
        The file name used in messages.

    Returns
    -------
    Vocabulary
        The vocabulary; a list section the document leaves out (caregiver roles, user roles,
        placements, default schedule) is the shipped one.

    Examples
    --------
    >>> parse_vocabulary({"urgency": []}, "v.yaml")
    Traceback (most recent call last):
    ...
    attunement.vocabulary.VocabularyError: v.yaml: flag_kinds: is required but missing (and 1 more problem(s))
    """
    content.validate(doc, "vocabulary", file=src, error=VocabularyError)
    _check_lists(doc, src)
    by_flag = _check_kinds(doc["flag_kinds"], src)
    levels = tuple(UrgencyLevel(lv["id"], lv["label"].strip(), str(lv.get("action") or "").strip(),
                                _words(lv.get("source"))) for lv in doc["urgency"])
    kinds = tuple(FlagKind(k["id"], k["label"].strip(), _words(k.get("description")),
                           flags=tuple(k.get("flags") or ()), recorded=k.get("recorded"),
                           source=_words(k.get("source")),
                           **{key: k[key] for key in _KIND_FLAGS}) for k in doc["flag_kinds"])
    cc = doc["crisis_contacts"]
    contacts = _parse_contacts(cc["contacts"], src, ["crisis_contacts", "contacts"])
    missing = [s for s in _SECTIONS if s not in doc]
    if missing and src == "vocabulary.yaml":
        raise VocabularyError(src, missing[0], "is required but missing in the shipped vocabulary")
    lists = {s: _terms(doc, s) for s in _SECTIONS if s in doc}
    shipped = {s: getattr(_default(), s) for s in missing}
    return Vocabulary(kinds, levels, contacts, _words(cc["source"]), src,
                      _by_flag=by_flag, **lists, **shipped)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """The vocabulary: a service's file (``path``, else ``$ATTUNEMENT_VOCABULARY``) or the shipped one.

    Parameters
    ----------
    path : str or Path, optional
        A service's vocabulary file (same format; sections it leaves out are the shipped ones).

    Returns
    -------
    Vocabulary
        The validated vocabulary (cached for the shipped file and the environment's file).

    Examples
    --------
    >>> load_vocabulary().level("emergency").label.startswith("EMERGENCY")
    True
    """
    if path is None:
        env = os.environ.get(ENV_VAR)
        return _from_file(env) if env else _default()
    return parse_vocabulary(content.load_yaml(Path(path), error=VocabularyError), str(path))


@cache
def _from_file(path: str) -> Vocabulary:
    return parse_vocabulary(content.load_yaml(Path(path), error=VocabularyError), path)


@cache
def _default() -> Vocabulary:
    text = resources.files("attunement").joinpath("vocabulary.yaml").read_text("utf-8")
    return parse_vocabulary(content.parse_yaml(text, "vocabulary.yaml", error=VocabularyError),
                            "vocabulary.yaml")


_ACCESSOR_SECTIONS = """
    Parameters
    ----------
    vocabulary : Vocabulary, optional
        The vocabulary to read; by default the service's (``$ATTUNEMENT_VOCABULARY``) or the
        shipped one.

    Returns
    -------
    tuple of Term
        The entries in the file's order: ``id``, ``label`` and, where the list has them,
        ``description``, ``birth_parent`` or ``purpose``.

    Examples
    --------"""


def _accessor(section: str, summary: str, example: str
              ) -> Callable[[Vocabulary | None], tuple[Term, ...]]:
    """A module-level reader of one list of the (current) vocabulary; its docstring is the
    ``summary``, the sections all four readers share, and its own ``example``."""

    def read(vocabulary: Vocabulary | None = None) -> tuple[Term, ...]:
        return getattr(vocabulary or load_vocabulary(), section)

    read.__name__ = read.__qualname__ = section
    read.__doc__ = f"{summary}\n{_ACCESSOR_SECTIONS}{example}"
    return read


caregiver_roles = _accessor("caregiver_roles", "The caregiver roles (``birth_mother`` ...), with labels.", """
    >>> caregiver_roles()[0].id, caregiver_roles()[0].label
    ('birth_mother', 'Birth mother')
    """)
user_roles = _accessor("user_roles", "The roles of people who sign in: label and what each is for.", """
    >>> user_roles()[0].label
    'Administrator'
    """)
placements = _accessor("placements", "Where the infant lives (``birth_family`` ...), with labels.", """
    >>> placements()[1].id
    'foster'
    """)
default_schedule = _accessor("default_schedule", "The time points offered when a study defines no schedule of its own, in order.", """
    >>> ", ".join(t.id for t in default_schedule())
    'antenatal, 6w, 3m, 6m, 12m'
    """)


def birth_parent_roles(vocabulary: Vocabulary | None = None) -> tuple[str, ...]:
    """The ids of the caregiver roles that are birth parents.

    Parameters
    ----------
    vocabulary : Vocabulary, optional
        The vocabulary; the service's (or shipped) one by default.

    Returns
    -------
    tuple of str
        The role ids.

    Examples
    --------
    >>> birth_parent_roles()
    ('birth_mother', 'birth_father')
    """
    return tuple(t.id for t in caregiver_roles(vocabulary) if t.birth_parent)


def vocabulary_terms(vocabulary: Vocabulary | None = None) -> dict[str, tuple[str, ...]]:
    """The id lists that content schemas fill their ``x-vocabulary`` places from.

    Parameters
    ----------
    vocabulary : Vocabulary, optional
        As for :func:`birth_parent_roles`.

    Returns
    -------
    dict
        List name -> ids.

    Examples
    --------
    >>> vocabulary_terms()["placements"]
    ('birth_family', 'foster', 'adoptive', 'kinship')
    """
    return (vocabulary or load_vocabulary()).terms()


__all__ = [
    "ENV_VAR",
    "URGENCY_LEVELS",
    "CrisisContact",
    "FlagKind",
    "Term",
    "UrgencyLevel",
    "Vocabulary",
    "VocabularyError",
    "birth_parent_roles",
    "caregiver_roles",
    "default_schedule",
    "load_vocabulary",
    "parse_vocabulary",
    "placements",
    "user_roles",
    "vocabulary_terms",
]
