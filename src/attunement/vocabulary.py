"""The one vocabulary of flag kinds, urgency levels and crisis contacts (``vocabulary.yaml``).

Pure domain code: every layer (instruments, risk, store, web) asks this module whether a flag is
urgent, an emergency, opens an alert or shows the crisis contacts, instead of keeping a list.

>>> v = load_vocabulary()
>>> v.kind_of({"id": "pbq_harm_review", "kind": "review"}).id
'harm_to_baby'
>>> v.urgency_of(["safety", "cutoff"])
'same_day'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

URGENCY_LEVELS = ("none", "same_day", "emergency")
_KIND_FLAGS = ("urgent", "emergency", "alert", "show_crisis_contacts")


class VocabularyError(ValueError):
    """The vocabulary or a crisis-contacts file is invalid; the message names file, entry, field."""


@dataclass(frozen=True)
class FlagKind:
    """One kind of flag: what it means and what it sets off."""

    id: str
    label: str
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
class UrgencyLevel:
    id: str
    label: str
    action: str
    source: str = ""


@dataclass(frozen=True)
class CrisisContact:
    name: str
    phone: str
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "phone": self.phone, "note": self.note}


@dataclass(frozen=True)
class Vocabulary:
    """Flag kinds, urgency levels and the crisis contacts a service shows."""

    kinds: tuple[FlagKind, ...]
    levels: tuple[UrgencyLevel, ...]
    crisis_contacts: tuple[CrisisContact, ...]
    crisis_contacts_source: str
    source: str = "vocabulary.yaml"
    _by_flag: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def kind(self, kind_id: str) -> FlagKind:
        for k in self.kinds:
            if k.id == kind_id:
                return k
        raise KeyError(f"unknown flag kind {kind_id!r} (known: {', '.join(self.kind_ids)})")

    @property
    def kind_ids(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.kinds)

    def level(self, level_id: str) -> UrgencyLevel:
        for lv in self.levels:
            if lv.id == level_id:
                return lv
        raise KeyError(f"unknown urgency level {level_id!r}")

    def kind_of(self, flag: Mapping[str, Any] | Any) -> FlagKind | None:
        """The kind of an instrument flag (a dict or an object with ``id`` and ``kind``).

        A flag named in a kind's ``flags`` takes that kind (e.g. PBQ item 18/24 -> harm_to_baby);
        otherwise its own ``kind``. ``None`` for a kind this vocabulary does not know.
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
        """Kinds raised by a recorded answer (context key true)."""
        return tuple(k for k in self.kinds if k.recorded)

    def is_urgent(self, flags: Iterable[Mapping[str, Any] | Any]) -> bool:
        """True when any flag is of an urgent kind."""
        return any((k := self.kind_of(f)) is not None and k.urgent for f in flags)

    def opens_alert(self, flag: Mapping[str, Any] | Any) -> bool:
        k = self.kind_of(flag)
        return k is not None and k.alert

    def shows_crisis_contacts(self, flags: Iterable[Mapping[str, Any] | Any]) -> bool:
        return any((k := self.kind_of(f)) is not None and k.show_crisis_contacts for f in flags)

    def urgency_of(self, kind_ids: Iterable[str]) -> str:
        """The highest urgency among these kinds: ``none``, ``same_day`` or ``emergency``."""
        worst = 0
        for kid in kind_ids:
            worst = max(worst, URGENCY_LEVELS.index(self.kind(kid).urgency))
        return URGENCY_LEVELS[worst]

    def contacts(self) -> list[dict[str, str]]:
        return [c.to_dict() for c in self.crisis_contacts]

    def with_crisis_contacts(self, contacts: str | Path | Sequence[Mapping[str, Any]]
                             ) -> Vocabulary:
        """This vocabulary with a service's crisis contacts (a list, or a JSON/YAML file of one)."""
        if isinstance(contacts, str | Path):
            where = str(contacts)
            data = _read(Path(contacts))
            source = f"service crisis contacts ({where})"
        else:
            where, data, source = "crisis contacts", contacts, "service crisis contacts"
        if isinstance(data, Mapping) and "contacts" in data:
            source = str(data.get("source") or source)
            data = data["contacts"]
        return replace(self, crisis_contacts=_parse_contacts(data, where),
                       crisis_contacts_source=source)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VocabularyError(f"{path}: file not found") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise VocabularyError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'} "
                              f"({exc})") from None


def _text(entry: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise VocabularyError(f"{where}: field '{key}' is missing or empty")
    return str(value).strip()


def _parse_contacts(data: Any, where: str) -> tuple[CrisisContact, ...]:
    if not isinstance(data, list) or not data:
        raise VocabularyError(f"{where}: expected a non-empty list of crisis contacts")
    out = []
    for i, entry in enumerate(data, start=1):
        w = f"{where}: contact {i}"
        if not isinstance(entry, Mapping):
            raise VocabularyError(f"{w}: expected a mapping with name and phone")
        unknown = set(entry) - {"name", "phone", "note"}
        if unknown:
            raise VocabularyError(f"{w}: unknown field(s) {sorted(unknown)}")
        out.append(CrisisContact(_text(entry, "name", w), _text(entry, "phone", w),
                                 _text(entry, "note", w, required=False)))
    return tuple(out)


def parse_vocabulary(doc: Any, src: str) -> Vocabulary:
    """Validate a vocabulary document; errors name the file, entry and field."""
    if not isinstance(doc, Mapping):
        raise VocabularyError(f"{src}: expected a mapping")
    levels = []
    for i, lv in enumerate(doc.get("urgency") or []):
        w = f"{src}: urgency[{i}]"
        if not isinstance(lv, Mapping):
            raise VocabularyError(f"{w}: expected a mapping")
        levels.append(UrgencyLevel(_text(lv, "id", w), _text(lv, "label", w),
                                   str(lv.get("action") or "").strip(),
                                   " ".join(str(lv.get("source") or "").split())))
    if tuple(lv.id for lv in levels) != URGENCY_LEVELS:
        raise VocabularyError(f"{src}: urgency must list exactly {URGENCY_LEVELS} in this order")
    for lv in levels[1:]:
        if not lv.action or not lv.source:
            raise VocabularyError(f"{src}: urgency '{lv.id}': fields 'action' and 'source' are required")
    kinds: list[FlagKind] = []
    by_flag: dict[str, str] = {}
    raw = doc.get("flag_kinds")
    if not isinstance(raw, list) or not raw:
        raise VocabularyError(f"{src}: expected a non-empty 'flag_kinds' list")
    for i, k in enumerate(raw):
        w = f"{src}: flag_kinds[{i}]"
        if not isinstance(k, Mapping):
            raise VocabularyError(f"{w}: expected a mapping")
        kid = _text(k, "id", w)
        w = f"{src}: flag kind '{kid}'"
        if kid in {x.id for x in kinds}:
            raise VocabularyError(f"{w}: duplicate id")
        unknown = set(k) - {"id", "label", "description", "flags", "recorded", "source", *_KIND_FLAGS}
        if unknown:
            raise VocabularyError(f"{w}: unknown field(s) {sorted(unknown)}")
        bools = {}
        for key in _KIND_FLAGS:
            if not isinstance(k.get(key), bool):
                raise VocabularyError(f"{w}: field '{key}' must be true or false, got {k.get(key)!r}")
            bools[key] = k[key]
        if bools["emergency"] and not bools["urgent"]:
            raise VocabularyError(f"{w}: an emergency kind must also be urgent")
        if bools["urgent"] and not bools["alert"]:
            raise VocabularyError(f"{w}: an urgent kind must open an alert")
        flags = k.get("flags") or []
        if not isinstance(flags, list) or not all(isinstance(f, str) and f for f in flags):
            raise VocabularyError(f"{w}: field 'flags' must be a list of instrument flag ids")
        for f in flags:
            if f in by_flag:
                raise VocabularyError(f"{w}: flag {f!r} is already of kind {by_flag[f]!r}")
            by_flag[f] = kid
        recorded = k.get("recorded")
        if recorded is not None and (not isinstance(recorded, str) or not recorded):
            raise VocabularyError(f"{w}: field 'recorded' must be a recorded-answer id")
        kinds.append(FlagKind(kid, _text(k, "label", w), " ".join(str(k.get("description") or "").split()),
                              flags=tuple(flags), recorded=recorded,
                              source=" ".join(str(k.get("source") or "").split()), **bools))
    cc = doc.get("crisis_contacts")
    if not isinstance(cc, Mapping):
        raise VocabularyError(f"{src}: crisis_contacts: expected a mapping with source and contacts")
    contacts = _parse_contacts(cc.get("contacts"), f"{src}: crisis_contacts")
    return Vocabulary(tuple(kinds), tuple(levels), contacts,
                      " ".join(_text(cc, "source", f"{src}: crisis_contacts").split()), src, by_flag)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Load the shipped vocabulary (cached), or a service's replacement file."""
    if path is None:
        return _default()
    return parse_vocabulary(_read(Path(path)), str(path))


@cache
def _default() -> Vocabulary:
    text = resources.files("attunement").joinpath("vocabulary.yaml").read_text("utf-8")
    return parse_vocabulary(yaml.safe_load(text), "vocabulary.yaml")


__all__ = [
    "URGENCY_LEVELS",
    "CrisisContact",
    "FlagKind",
    "UrgencyLevel",
    "Vocabulary",
    "VocabularyError",
    "load_vocabulary",
    "parse_vocabulary",
]
